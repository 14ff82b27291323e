"""``validation.json`` in a plan directory: the "falls short" rule, its default ratio, one typed reader.

``gpupack validate DIR`` writes it (``validation.report`` renders the document, ``write_validation``
puts it in place); a replan's ``--interference`` and ``gpupack report`` read it back here. A model
**falls short** when it failed or delivered less than ``min_ratio`` × the throughput the plan promised
it; the file records the ``min_ratio`` it was judged with (``DEFAULT_MIN_RATIO`` where it does not).
Readers take ``min_ratio`` and ``gpus[]`` with ``index``, ``promised_throughput``,
``measured_throughput``, ``planned_gpu_utilization_pct``, ``peak_memory_mb``, ``planned_memory_mb``,
``error`` and ``models[]`` with ``name``, ``promised_throughput``, ``measured_throughput`` (infer/s;
``null`` when nothing was measured) and ``error``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from profiler.base.errors import InputError
from profiler.base.files import write_atomic
from profiler.base.plan_dir import VALIDATION_CSV, VALIDATION_JSON, read_json
from profiler.base.schema_version import KEY, UNVERSIONED

# The rule: a GPU holds its plan when it delivers at least 90 % of the promised throughput.
DEFAULT_MIN_RATIO = 0.9


def throughput_ratio(measured: float | None, promised: float) -> float | None:
    """``measured / promised``; 0 when nothing was measured; None when nothing was promised."""
    if not promised > 0:
        return None
    return (measured or 0.0) / promised


def falls_short(measured: float | None, promised: float, min_ratio: float, failed: bool = False) -> bool:
    """True when it failed or delivered less than ``min_ratio`` of its promise (nothing promised: never)."""
    r = throughput_ratio(measured, promised)
    return failed or (r is not None and r < min_ratio)


@dataclass(frozen=True)
class ValidatedModel:
    """One model as validated on one GPU: promised and measured throughput, infer/s."""

    name: str
    promised_throughput: float
    measured_throughput: float | None
    error: str = ""  # why it failed; a failed model falls short whatever it delivered

    @property
    def ratio(self) -> float | None:
        """Measured / promised throughput (``throughput_ratio``)."""
        return throughput_ratio(self.measured_throughput, self.promised_throughput)

    def short(self, min_ratio: float) -> bool:
        """True when it failed or delivered less than ``min_ratio`` of its promise (``falls_short``)."""
        return falls_short(self.measured_throughput, self.promised_throughput, min_ratio, bool(self.error))


@dataclass(frozen=True)
class ValidatedGpu:
    """One validated GPU: its models, its totals (None where the file leaves them out), its planned load."""

    index: int
    models: tuple[ValidatedModel, ...]
    promised_throughput: float | None = None
    measured_throughput: float | None = None
    planned_gpu_util_pct: float | None = None
    peak_memory_mb: float | None = None  # the GPU's peak device memory, MB (None on a CPU host)
    planned_memory_mb: float | None = None  # what the plan says it holds, server included, MB
    error: str = ""  # its server did not start

    @property
    def ratio(self) -> float | None:
        """Measured / promised throughput summed over its models; None where the file leaves them out."""
        if self.promised_throughput is None:
            return None
        return throughput_ratio(self.measured_throughput, self.promised_throughput)

    @property
    def memory_ratio(self) -> float | None:
        """Peak / planned memory; None when either is unknown."""
        if self.peak_memory_mb is None or not self.planned_memory_mb:
            return None
        return self.peak_memory_mb / self.planned_memory_mb

    def short(self, min_ratio: float) -> bool:
        """True when its server failed, a model fell short, or its total did (``falls_short``)."""
        failed = bool(self.error) or any(m.short(min_ratio) for m in self.models)
        if self.promised_throughput is None:
            return failed
        return falls_short(self.measured_throughput, self.promised_throughput, min_ratio, failed)


@dataclass(frozen=True)
class ValidationFile:
    """A ``validation.json`` read back."""

    path: Path
    gpus: tuple[ValidatedGpu, ...]
    min_ratio: float = DEFAULT_MIN_RATIO
    schema_version: str = UNVERSIONED


def _number(path: Path, where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{path}: {where}: expected a finite number, got {value!r}")
    return float(value)


def _optional(path: Path, where: str, value: object) -> float | None:
    return None if value is None else _number(path, where, value)


def _text(path: Path, where: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{path}: {where}: expected a string, got {value!r}")
    return value


def _model(path: Path, where: str, model: object) -> ValidatedModel:
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise InputError(f"{path}: {where}: expected an object with a 'name'")
    return ValidatedModel(
        name=model["name"],
        promised_throughput=_number(path, f"{where}.promised_throughput", model.get("promised_throughput")),
        measured_throughput=_optional(path, f"{where}.measured_throughput", model.get("measured_throughput")),
        error=_text(path, f"{where}.error", model.get("error")),
    )


def _gpu(path: Path, k: int, gpu: object) -> ValidatedGpu:
    if not isinstance(gpu, dict) or not isinstance(gpu.get("models"), list):
        raise InputError(f"{path}: gpus[{k}]: expected an object with a list 'models'")
    models = tuple(_model(path, f"gpus[{k}].models[{j}]", m) for j, m in enumerate(gpu["models"]))
    index = gpu.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        raise InputError(f"{path}: gpus[{k}].index: expected an integer, got {index!r}")
    return ValidatedGpu(
        index=index,
        models=models,
        promised_throughput=_optional(path, f"gpus[{k}].promised_throughput", gpu.get("promised_throughput")),
        measured_throughput=_optional(path, f"gpus[{k}].measured_throughput", gpu.get("measured_throughput")),
        planned_gpu_util_pct=_optional(
            path, f"gpus[{k}].planned_gpu_utilization_pct", gpu.get("planned_gpu_utilization_pct")
        ),
        peak_memory_mb=_optional(path, f"gpus[{k}].peak_memory_mb", gpu.get("peak_memory_mb")),
        planned_memory_mb=_optional(path, f"gpus[{k}].planned_memory_mb", gpu.get("planned_memory_mb")),
        error=_text(path, f"gpus[{k}].error", gpu.get("error")),
    )


def read_validation(path: Path) -> ValidationFile:
    """Read a ``validation.json`` written by ``gpupack validate``.

    Raises:
        InputError: no such file, not its JSON, or written by a newer gpupack.

    """
    fix = "pass the validation.json that gpupack validate wrote"
    data = read_json(path, fix, "a readable validation JSON")
    if not isinstance(data, dict) or not isinstance(data.get("gpus"), list):
        raise InputError(f"{path}: expected the JSON of gpupack validate (an object with a list 'gpus')")
    return ValidationFile(
        path=path,
        gpus=tuple(_gpu(path, k, g) for k, g in enumerate(data["gpus"])),
        min_ratio=_number(path, "min_ratio", data.get("min_ratio", DEFAULT_MIN_RATIO)),
        schema_version=data.get(KEY, UNVERSIONED),
    )


def write_validation(directory: Path, document: str, table: str) -> None:
    """Write ``validation.json`` (``document``) and ``validation.csv`` (``table``), each atomically."""
    write_atomic(directory / VALIDATION_JSON, document)
    write_atomic(directory / VALIDATION_CSV, table)
