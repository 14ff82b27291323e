"""Shared by every command: errors, files, options, signals, config files, the written plan directory."""
