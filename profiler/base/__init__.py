"""Shared by every command: the one error type, file writing, option parsing, signals, configuration files."""
