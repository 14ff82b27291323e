"""Validation: a written plan read back, served on real servers, measured against its promise."""
