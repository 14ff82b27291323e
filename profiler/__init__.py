"""Measuring half of gpupack: profile models on a real Triton server; the profile file format.

Nothing here imports the packer (the GPU host has no OR-Tools). What the packer and the CLI may use
is re-exported here, the profiler's public interface: the one user-facing error type, the profile
records, reading and writing files, and the launch scripts of a written plan. Everything else is
the profiler's own.
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
    "Colocation",
    "GpupackError",
    "InputError",
    "Profile",
    "ProfilePoint",
    "cannot_write",
    "ensure_directory",
    "exclusive",
    "installed_gpupack",
    "launch_script",
    "read_csv",
    "read_profile",
    "read_text",
    "refuse_overlap",
    "temp_dir",
    "write_atomic",
]
_SERVING = ("installed_gpupack", "launch_script")


def __getattr__(name: str) -> object:
    """The serving helpers, imported on first use: they pull in tritonclient, which plan rarely needs."""
    if name in _SERVING:
        from profiler.server import serving

        return getattr(serving, name)
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
