"""Measuring half of gpupack: profile models on a real Triton server; the profile file format.

Nothing here imports the packer (the GPU host has no OR-Tools). What the packer and the CLI may use
is re-exported here, the profiler's public interface: the one user-facing error type, the profile
records, reading and writing files, the written plan directory (``base.plan_dir``, its
``validation.json`` in ``base.validation_file``) and its launch scripts, and the command-line option
types and configuration layers the packer's commands share with the profiler's. Everything else is the
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
    PlannedSlice,
    WrittenPlanDirectory,
    launch_script_name,
    plan_json_path,
    read_plan,
    repository_name,
    slice_repository_name,
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
from profiler.profiles.schema import VARIANTS_DIR, Colocation, Profile, ProfilePoint

# Imported on first use, each from its module: the serving helpers pull in tritonclient, which plan
# rarely needs, and the command-line option machinery (for the packer's commands) pulls in click,
# which the profiler proper never loads.
_LAZY = {
    "profiler.server.serving": ("SliceServer", "installed_gpupack", "launch_script", "mig_launch_script"),
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
    "DEFAULT_MIN_RATIO",
    "GROUP_SEPARATOR",
    "SCHEMA_VERSION",
    "VARIANTS_DIR",
    "Colocation",
    "Endpoint",
    "GpupackError",
    "InputError",
    "PlanFile",
    "PlannedGpu",
    "PlannedSlice",
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
    "launch_script_name",
    "plan_json_path",
    "read_csv",
    "read_plan",
    "read_profile",
    "read_text",
    "read_validation",
    "refuse_overlap",
    "repository_name",
    "slice_repository_name",
    "temp_dir",
    "validation_json_path",
    "versioned",
    "write_atomic",
    "write_plan_directory",
    *_HOME,
]


def __getattr__(name: str) -> object:
    """The names of ``_LAZY``, imported from their module on first use."""
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")
