"""Measuring half of gpupack: profile models on a real Triton server; the profile file format.

Nothing here imports the packer (the GPU host has no OR-Tools). What the packer and the CLI may use
is re-exported here, the profiler's public interface: the one user-facing error type, the profile
records, reading and writing files, the launch scripts of a written plan, and the command-line option
types and configuration layers the packer's commands share with the profiler's. Everything else is the
profiler's own.
"""

from profiler.base.errors import GpupackError, InputError
from profiler.base.files import (
    cannot_write,
    ensure_directory,
    exclusive,
    read_text,
    refuse_overlap,
    temp_dir,
    write_atomic,
)
from profiler.profiles.model_analyzer.records import GROUP_SEPARATOR
from profiler.profiles.profile_io import read_csv, read_profile
from profiler.profiles.schema import Colocation, Profile, ProfilePoint

# Imported on first use, each from its module: the serving helpers pull in tritonclient, which plan
# rarely needs, and the command-line option machinery (for the packer's commands) pulls in click,
# which the profiler proper never loads.
_LAZY = {
    "profiler.server.serving": ("installed_gpupack", "launch_script"),
    "profiler.base.cli_config": ("configurable", "effective_settings"),
    "profiler.base.options": (
        "DIRECTORY",
        "FILE",
        "MAX_BATCH",
        "MAX_CONCURRENCY",
        "MAX_GPUS",
        "MAX_MEMORY_MB",
        "MAX_SEED",
        "MAX_THRESHOLD_PCT",
        "MAX_TIME_LIMIT_S",
        "MAX_WORKERS",
        "PATH",
        "BoundedInt",
        "FiniteFloat",
        "GpupackCommand",
        "defaulted_option",
        "option_group",
    ),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [  # the names of _LAZY are served by __getattr__
    "GROUP_SEPARATOR",
    "Colocation",
    "GpupackError",
    "InputError",
    "Profile",
    "ProfilePoint",
    "cannot_write",
    "ensure_directory",
    "exclusive",
    "read_csv",
    "read_profile",
    "read_text",
    "refuse_overlap",
    "temp_dir",
    "write_atomic",
    *_HOME,
]


def __getattr__(name: str) -> object:
    """The names of ``_LAZY``, imported from their module on first use."""
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
