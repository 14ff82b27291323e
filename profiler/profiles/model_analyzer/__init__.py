"""Reading Model Analyzer 1.x results: its CSV exports and its checkpoints (``N.ckpt``).

``locate`` says whether a path given to ``--profiles`` is Model Analyzer 1.x output, and which
file to read: a ``.ckpt`` file; a ``*metrics-model-inference.csv`` (or the GPU or server-only
file of the same export, or any CSV with Model Analyzer's ``Model``, ``Model Config Path``
header); a directory holding a checkpoint (directly or in ``checkpoints/``, the latest
``N.ckpt``), preferred since it also holds the variants' model configs and the GPU's memory, else
an export (directly or in ``results/``).
"""

from __future__ import annotations

from pathlib import Path

from profiler.profiles.model_analyzer.checkpoint import latest, read_checkpoint
from profiler.profiles.model_analyzer.export import GPU, INFERENCE, SERVER, read_export
from profiler.profiles.schema import Profile

__all__ = ["locate", "read"]


def _is_export(path: Path) -> bool:
    """True for a CSV whose header is Model Analyzer 1.x's (``Model``, then its own column names)."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            header = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return header.startswith("Model,") and ("Model Config Path" in header or "GPU UUID" in header)


def _inference_of(path: Path) -> Path:
    """The inference file of an export, given any of its files (GPU or server-only)."""
    for kind in (GPU, SERVER):
        if path.name.endswith(kind):
            return path.with_name(path.name[: -len(kind)] + INFERENCE)
    return path


def locate(path: Path) -> Path | None:
    """The Model Analyzer 1.x file to read for ``path``, or ``None`` when it is not one."""
    if path.is_file():
        if path.suffix == ".ckpt":
            return path
        return _inference_of(path) if path.suffix == ".csv" and _is_export(path) else None
    if not path.is_dir():
        return None
    for folder in (path, path / "checkpoints"):
        found = latest(folder) if folder.is_dir() else None
        if found is not None:
            return found
    for folder in (path, path / "results"):
        exports = sorted(folder.glob(f"*{INFERENCE}")) if folder.is_dir() else []
        if exports:
            return exports[0]
    return None


def read(path: Path) -> Profile:
    """Read what ``locate`` found: a checkpoint or an export's inference file."""
    return read_checkpoint(path) if path.suffix == ".ckpt" else read_export(path)
