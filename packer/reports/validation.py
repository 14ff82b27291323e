"""The numbers behind the report's validation figures, from ``validation.json`` read by its owner.

``gpupack validate`` measured every model of a plan on its GPU; its file (``profiler.ValidationFile``)
holds what each model and GPU was promised and delivered, and each GPU's planned and peak memory. The
rule that a model **falls short** (failed, or delivered less than ``min_ratio`` of its promise) and
the ratios are the owner's (``ValidatedModel.short``, ``ValidatedGpu.short``); this module only
arranges them for drawing, and checks that the file validated the plan it is drawn beside.
Units: throughput infer/s, memory MB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from profiler import InputError, ValidationFile


@dataclass(frozen=True)
class Promise:
    """Promised (profiled) and measured throughput of one model on one GPU, or of a whole GPU.

    ``model`` is ``None`` for a GPU's total; ``measured`` is ``None`` when nothing was measured (the
    model failed); ``ratio`` is measured / promised (0 when nothing was measured, ``None`` when nothing
    was promised); ``short`` is the owner's verdict at the file's ``min_ratio``.
    """

    gpu: int
    model: str | None
    promised: float
    measured: float | None
    ratio: float | None
    short: bool


@dataclass(frozen=True)
class MemoryUse:
    """One GPU's memory: what the plan says it holds and the peak measured, MB (server included)."""

    gpu: int
    planned_mb: float | None
    peak_mb: float | None
    ratio: float | None  # peak / planned; above 1: the GPU held more than the plan said


@dataclass(frozen=True)
class ValidationData:
    """Every model's and GPU's promise against its measurement, and each GPU's memory."""

    source: str
    min_ratio: float
    models: tuple[Promise, ...]
    gpus: tuple[Promise, ...]
    memory: tuple[MemoryUse, ...]

    @property
    def short_models(self) -> int:
        """How many models (each on its GPU) fell short."""
        return sum(p.short for p in self.models)

    @property
    def short_gpus(self) -> int:
        """How many GPUs fell short."""
        return sum(p.short for p in self.gpus)


def _check_same_plan(validation: ValidationFile, plan: Mapping) -> None:
    """Refuse a validation of another plan: each validated GPU must run exactly the plan's models."""
    planned = {g["index"]: sorted(m["name"] for m in g["models"]) for g in plan["gpus"]}
    for gpu in validation.gpus:
        models = sorted(m.name for m in gpu.models)
        if planned.get(gpu.index) != models:
            where = f"GPU {gpu.index}" + ("" if gpu.index in planned else " (not in the plan)")
            raise InputError(
                f"{validation.path}: {where} ran {', '.join(models) or 'no model'}, but the plan places "
                f"{', '.join(planned.get(gpu.index, [])) or 'no model'} there: a validation of another plan",
                "pass the validation.json that gpupack validate wrote for this plan (--validation)",
            )


def validation_data(validation: ValidationFile | None, plan: Mapping) -> ValidationData | None:
    """The validation figures' numbers; ``None`` without a validation."""
    if validation is None:
        return None
    _check_same_plan(validation, plan)
    ratio = validation.min_ratio
    models, gpus = [], []
    for gpu in validation.gpus:
        if gpu.promised_throughput is None:
            raise InputError(
                f"{validation.path}: expected gpus[].models[] with promised and measured throughput "
                "(missing 'promised_throughput')"
            )
        gpus.append(
            Promise(
                gpu.index, None, gpu.promised_throughput, gpu.measured_throughput, gpu.ratio, gpu.short(ratio)
            )
        )
        models += [
            Promise(gpu.index, m.name, m.promised_throughput, m.measured_throughput, m.ratio, m.short(ratio))
            for m in gpu.models
        ]
    memory = tuple(
        MemoryUse(g.index, g.planned_memory_mb, g.peak_memory_mb, g.memory_ratio) for g in validation.gpus
    )
    return ValidationData(str(validation.path), ratio, tuple(models), tuple(gpus), memory)
