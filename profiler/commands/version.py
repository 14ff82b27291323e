"""`gpupack --version`: gpupack's version and those of the OR-Tools, tritonclient and tritonserver it finds.

Nothing is imported or started to learn a version: packages are read from their installed metadata,
and the server is found as serve finds it (``$TRITONSERVER``, else PATH, else nvidia-pytriton's).
tritonserver has no version flag, so its version is the one an NGC container declares
(``$TRITON_SERVER_VERSION``), else the nvidia-pytriton wheel's it came from, else unknown.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

from profiler.base.errors import GpupackError
from profiler.server.install import find_tritonserver

# What the CLI calls each package, and its distribution name.
PACKAGES = (("gpupack", "gpupack"), ("OR-Tools", "ortools"), ("tritonclient", "tritonclient"))
PYTRITON = "nvidia-pytriton"
_NOWHERE = "not on PATH, no nvidia-pytriton installed; $TRITONSERVER not set"


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _server_line() -> str:
    explicit = os.environ.get("TRITONSERVER")
    try:
        binary = find_tritonserver(Path(explicit) if explicit else None)
    except GpupackError:
        where = f"$TRITONSERVER={explicit} is not an executable file" if explicit else _NOWHERE
        return f"tritonserver not found ({where})"
    declared = os.environ.get("TRITON_SERVER_VERSION")
    if declared:
        return f"tritonserver {declared} ({binary})"
    wheel = _installed(PYTRITON)
    if wheel and "pytriton" in binary.resolve().parts:
        return f"tritonserver from {PYTRITON} {wheel} ({binary})"
    return f"tritonserver, version unknown ({binary})"


def version_lines() -> list[str]:
    """One line per component: ``NAME VERSION``, ``NAME not installed`` or ``tritonserver not found``."""
    lines = []
    for name, distribution in PACKAGES:
        version = _installed(distribution)
        lines.append(f"{name} {version}" if version else f"{name} not installed")
    return [*lines, _server_line()]
