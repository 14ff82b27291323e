"""The p99 bounds of a targets file, for the config search (``gpupack profile --search --targets FILE``).

The planner reads the same file in full (``packer/fleet_file.py``: throughput targets and p99
bounds); the profiler cannot import the packer (the GPU host has no OR-Tools), so this reader takes
only what the search needs: each model's ``max_latency_p99_ms``. Both forms the planner reads:
YAML ``model: infer/s`` or ``model: {throughput: infer/s, max_latency_p99_ms: ms}``, and CSV
``model,throughput[,max_latency_p99_ms]``. A model without a bound has none (its search is pruned by
memory and throughput alone). Unknown keys are refused, as the planner refuses them.
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from profiler.base.errors import InputError, did_you_mean
from profiler.base.files import read_text
from profiler.profiles.profile_io import read_csv

# The keys of a target entry, as packer/fleet_file.py's TARGET_KEYS.
TARGET_KEYS = ("throughput", "max_latency_p99_ms")


def _bound(where: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InputError(f"{where}: max_latency_p99_ms must be a positive number of ms, got {value!r}")
    return float(value)


def _from_yaml(path: Path) -> dict[str, float]:
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"{path}: not valid YAML{f' at line {mark.line + 1}' if mark else ''}") from None
    if not isinstance(data, dict) or not data:
        raise InputError(f"{path}: expected a mapping model: infer/s (or model: {{throughput: ...}})")
    bounds = {}
    for model, value in data.items():
        if not isinstance(value, dict):
            continue  # a throughput alone: no bound
        for key in value:
            if key not in TARGET_KEYS:
                hint = did_you_mean(str(key), TARGET_KEYS, f"choose one of: {', '.join(TARGET_KEYS)}")
                raise InputError(f"{path}: {model}: unknown key {key!r}", hint)
        if value.get("max_latency_p99_ms") is not None:
            bounds[str(model)] = _bound(f"{path}: {model}", value["max_latency_p99_ms"])
    return bounds


def _from_csv(path: Path) -> dict[str, float]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    header, rows = read_csv(path)
    if "model" not in header:
        raise InputError(f"{path}: expected a header model,throughput[,max_latency_p99_ms] and rows")
    bounds = {}
    for i, row in enumerate(rows, start=1):
        cell = (row.get("max_latency_p99_ms") or "").strip()
        if cell:
            try:
                number = float(cell)
            except ValueError:
                raise InputError(
                    f"{path} row {i}: max_latency_p99_ms: expected a number, got {cell!r}"
                ) from None
            bounds[(row.get("model") or "").strip()] = _bound(f"{path} row {i}", number)
    return bounds


def read_latency_bounds(path: Path) -> dict[str, float]:
    """Model → its p99 bound (ms) in the targets file ``path`` (YAML, or CSV by its ``.csv`` suffix).

    Raises:
        InputError: not a targets file, or a bound that is not a positive number.

    """
    return _from_csv(path) if path.suffix.lower() == ".csv" else _from_yaml(path)
