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

__all__ = [
    "GROUP_SEPARATOR",
    "MAX_BATCH",
    "MAX_CONCURRENCY",
    "MAX_GPUS",
    "MAX_MEMORY_MB",
    "MAX_SEED",
    "MAX_THRESHOLD_PCT",
    "MAX_TIME_LIMIT_S",
    "MAX_WORKERS",
    "BoundedInt",
    "Colocation",
    "FiniteFloat",
    "GpupackCommand",
    "GpupackError",
    "InputError",
    "Profile",
    "ProfilePoint",
    "cannot_write",
    "configurable",
    "effective_settings",
    "ensure_directory",
    "exclusive",
    "installed_gpupack",
    "launch_script",
    "option_group",
    "read_csv",
    "read_profile",
    "read_text",
    "refuse_overlap",
    "temp_dir",
    "write_atomic",
]
# Imported on first use: the serving helpers pull in tritonclient, which plan rarely needs, and the
# command-line option machinery (for the packer's commands) pulls in click, which the profiler proper
# never loads.
_LAZY = {
    "installed_gpupack": "profiler.server.serving",
    "launch_script": "profiler.server.serving",
    "configurable": "profiler.base.cli_config",
    "effective_settings": "profiler.base.cli_config",
    **dict.fromkeys(
        (
            "MAX_BATCH",
            "MAX_CONCURRENCY",
            "MAX_GPUS",
            "MAX_MEMORY_MB",
            "MAX_SEED",
            "MAX_THRESHOLD_PCT",
            "MAX_TIME_LIMIT_S",
            "MAX_WORKERS",
            "BoundedInt",
            "FiniteFloat",
            "GpupackCommand",
            "option_group",
        ),
        "profiler.base.options",
    ),
}


def __getattr__(name: str) -> object:
    """The names of ``_LAZY``, imported from their module on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
