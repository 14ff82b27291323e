"""Measuring half of gpupack: profile models on a real Triton server; the profile file format.

Nothing here imports the packer (the GPU host has no OR-Tools). What the packer and the CLI may use
is re-exported here, the profiler's public interface: the one user-facing error type, the profile
records, reading and writing files, the written plan directory (``base.plan_dir``, its
``validation.json`` in ``base.validation_file``) and its launch scripts. Everything else is the
profiler's own.
"""

from profiler.base.errors import GpupackError, InputError, did_you_mean
from profiler.base.files import (
    cannot_write,
    ensure_directory,
    exclusive,
    read_text,
    refuse_overlap,
    temp_dir,
    write_atomic,
)
from profiler.base.plan_dir import (
    Endpoint,
    PlanFile,
    PlannedGpu,
    WrittenPlanDirectory,
    launch_script_name,
    plan_json_path,
    read_plan,
    repository_name,
    validation_json_path,
    write_plan_directory,
)
from profiler.base.schema_version import SCHEMA_VERSION, versioned
from profiler.base.validation_file import (
    DEFAULT_MIN_RATIO,
    ValidatedGpu,
    ValidationFile,
    falls_short,
    read_validation,
)
from profiler.profiles.model_analyzer.records import GROUP_SEPARATOR
from profiler.profiles.profile_io import read_csv, read_profile
from profiler.profiles.schema import Colocation, Profile, ProfilePoint

__all__ = [
    "DEFAULT_MIN_RATIO",
    "GROUP_SEPARATOR",
    "SCHEMA_VERSION",
    "Colocation",
    "Endpoint",
    "GpupackError",
    "InputError",
    "PlanFile",
    "PlannedGpu",
    "Profile",
    "ProfilePoint",
    "ValidatedGpu",
    "ValidationFile",
    "WrittenPlanDirectory",
    "cannot_write",
    "did_you_mean",
    "ensure_directory",
    "exclusive",
    "falls_short",
    "installed_gpupack",
    "launch_script",
    "launch_script_name",
    "plan_json_path",
    "read_csv",
    "read_plan",
    "read_profile",
    "read_text",
    "read_validation",
    "refuse_overlap",
    "repository_name",
    "temp_dir",
    "validation_json_path",
    "versioned",
    "write_atomic",
    "write_plan_directory",
]
_SERVING = ("installed_gpupack", "launch_script")


def __getattr__(name: str) -> object:
    """The serving helpers, imported on first use: they pull in tritonclient, which plan rarely needs."""
    if name in _SERVING:
        from profiler.server import serving

        return getattr(serving, name)
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
