"""The numbers behind each figure of the report, computed from a plan JSON and its profiles.

Every figure is drawn from one of these records and nothing else, so a test compares numbers, not
pixels (``ReportData.to_dict`` is also embedded in the HTML). Inputs are the plan JSON (a plan
just made, or one read back: one path for both), each GPU type's profile and, where it exists,
``validation.json`` written by ``gpupack validate``. Units: throughput infer/s, latency ms, bars
in % of one GPU (memory as % of the GPU's memory).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from packer.labels import point_label
from packer.resources import GPU_UTIL, HOST_MEMORY, MEM_UTIL, MEMORY, Resource
from profiler import InputError, Profile, ProfilePoint, ValidationFile

RESOURCES = {r.name: r for r in (MEMORY, HOST_MEMORY, GPU_UTIL, MEM_UTIL)}


@dataclass(frozen=True)
class Dot:
    """One profiled point on the throughput–latency plane."""

    label: str
    throughput: float
    latency_p99_ms: float


@dataclass(frozen=True)
class ModelFigure:
    """A model's profiled points (per GPU type), the chosen ones, and points without a p99."""

    model: str
    measured: tuple[tuple[str, tuple[Dot, ...]], ...]
    chosen: tuple[Dot, ...]
    without_p99: int


@dataclass(frozen=True)
class Bar:
    """One resource of one GPU: the server and each model's own share, % of the GPU's capacity.

    ``limit_pct`` is ``None`` for a resource the plan did not pack; ``total_pct`` is the plan's
    reported total, ``None`` when nothing on the GPU measured the resource.
    """

    resource: str
    capacity: str
    limit_pct: float | None
    server_pct: float
    shares: tuple[tuple[str, float], ...]
    total_pct: float | None


@dataclass(frozen=True)
class GpuFigure:
    """One GPU of the plan: a bar per resource."""

    index: int
    gpu_type: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class BoundFigure:
    """The plan against its proven bound, and first-fit decreasing's GPU count for comparison."""

    goal: str
    value: float
    bound: float
    optimal: bool
    gpu_count: int
    lower_bound: int
    ffd_gpu_count: int


@dataclass(frozen=True)
class Promise:
    """Promised (profiled) and measured throughput of one model on one GPU, or of a whole GPU."""

    gpu: int
    model: str | None
    promised: float
    measured: float | None  # None: nothing measured (the model failed)


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows."""

    summary: str
    notes: tuple[str, ...]
    models: tuple[ModelFigure, ...]
    gpus: tuple[GpuFigure, ...]
    bound: BoundFigure
    validation: tuple[Promise, ...]

    def to_dict(self) -> dict:
        """The figures' data as JSON-ready values."""
        return dataclasses.asdict(self)


def point_of(model: str, entry: Mapping) -> ProfilePoint:
    """A plan JSON point entry as the profile point it names (no GPU readings)."""
    return ProfilePoint(
        model=model,
        batch_size=entry["batch_size"],
        concurrency=entry["concurrency"],
        instance_count=entry.get("instance_count", 1),
        throughput=entry.get("throughput"),
        latency_p99_ms=entry.get("latency_p99_ms"),
        variant=entry.get("variant", ""),
        request_rate=entry.get("request_rate"),
        dynamic_batching=entry.get("dynamic_batching"),
        max_queue_delay_us=entry.get("max_queue_delay_us"),
        max_batch_size=entry.get("max_batch_size"),
    )


def _profile_point(profile: Profile, wanted: ProfilePoint) -> ProfilePoint:
    for p in profile.points_for(wanted.model):
        if p.key == wanted.key:
            return p
    raise InputError(
        f"the plan's point {point_label(wanted)} of model {wanted.model!r} is not in {profile.source}",
        "pass the profiles the plan was made from (--profiles)",
    )


def _model_figures(plan: Mapping, profiles: Mapping[str, Profile]) -> tuple[ModelFigure, ...]:
    types = {g["index"]: g["type"] for g in plan["gpus"]}
    figures = []
    for m in plan["models"]:
        measured, missing = [], 0
        for name, profile in profiles.items():
            points = [p for p in profile.points_for(m["name"]) if p.ok]
            dots = [Dot(point_label(p), p.throughput, p.latency_p99_ms) for p in points if p.latency_p99_ms]
            missing += len(points) - len(dots)
            if points:
                measured.append((name, tuple(dots)))
        chosen = []
        for entry in m["points"]:
            point = point_of(m["name"], entry)
            if point.latency_p99_ms is not None:
                label = f"{point_label(point)} on GPU {entry['gpu']} ({types[entry['gpu']]})"
                chosen.append(Dot(label, point.throughput or 0.0, point.latency_p99_ms))
        figures.append(ModelFigure(m["name"], tuple(measured), tuple(chosen), missing))
    return tuple(figures)


def _bar(
    resource: Resource, gpu: Mapping, profile: Profile, points: list[ProfilePoint], limits: Mapping
) -> Bar:
    capacity = gpu["gpu_memory_mb"] if resource.is_memory else 100.0
    server = getattr(profile.server, resource.attr) or 0.0
    values = [(p.model, getattr(p, resource.attr)) for p in points]
    shares = tuple((m, 100 * max(0.0, v - server) / capacity) for m, v in values if v is not None)
    total = gpu["memory_mb"] if resource.is_memory else gpu.get(resource.attr)
    return Bar(
        resource=resource.name,
        capacity=f"{capacity:g} MB" if resource.is_memory else "100 %",
        limit_pct=limits.get(resource.name),
        server_pct=100 * server / capacity,
        shares=shares,
        total_pct=None if total is None else 100 * total / capacity,
    )


def _gpu_figures(plan: Mapping, profiles: Mapping[str, Profile]) -> tuple[GpuFigure, ...]:
    limits = plan.get("limits_pct") or {}
    figures = []
    for gpu in plan["gpus"]:
        profile = profiles[gpu["type"]]
        points = [_profile_point(profile, point_of(m["name"], m)) for m in gpu["models"]]
        memory = HOST_MEMORY if HOST_MEMORY.name in limits or profile.metadata.device == "cpu" else MEMORY
        bars = tuple(_bar(r, gpu, profile, points, limits) for r in (memory, GPU_UTIL, MEM_UTIL))
        figures.append(GpuFigure(gpu["index"], gpu["type"], bars))
    return tuple(figures)


def _validation(validation: ValidationFile | None) -> tuple[Promise, ...]:
    if not validation:
        return ()
    out = []
    for gpu in validation.gpus:
        if gpu.promised_throughput is None:
            raise InputError(
                f"{validation.path}: expected gpus[].models[] with promised and measured throughput "
                "(missing 'promised_throughput')"
            )
        out.append(Promise(gpu.index, None, gpu.promised_throughput, gpu.measured_throughput))
        out += [Promise(gpu.index, m.name, m.promised_throughput, m.measured_throughput) for m in gpu.models]
    return tuple(out)


def _gpus(n: int) -> str:
    return f"{n} GPU{'s' if n != 1 else ''}"


def summary(plan: Mapping) -> str:
    """One line: GPUs, goal value and bound, proof."""
    proof = "optimal" if plan["optimal"] else f"not proven optimal, gap {plan.get('objective_gap', 0):g}"
    return (
        f"{_gpus(plan['gpu_count'])}, goal {plan['goal']}: value {plan['objective_value']:g}, bound "
        f"{plan['objective_bound']:g} ({proof}); lower bound {_gpus(plan['lower_bound'])}, first-fit "
        f"decreasing {_gpus(plan['ffd_gpu_count'])}"
    )


def report_data(
    plan: Mapping, profiles: Mapping[str, Profile], validation: ValidationFile | None = None
) -> ReportData:
    """The data of every figure of ``plan`` (a plan JSON), ``profiles`` by GPU type name."""
    missing = sorted({g["type"] for g in plan["gpus"]} - profiles.keys())
    if missing:
        raise InputError(f"no profile for GPU type {missing[0]!r} of the plan", "pass --profiles or --fleet")
    bound = BoundFigure(
        goal=plan["goal"],
        value=plan["objective_value"],
        bound=plan["objective_bound"],
        optimal=plan["optimal"],
        gpu_count=plan["gpu_count"],
        lower_bound=plan["lower_bound"],
        ffd_gpu_count=plan["ffd_gpu_count"],
    )
    return ReportData(
        summary=summary(plan),
        notes=tuple(plan.get("notes", ())),
        models=_model_figures(plan, profiles),
        gpus=_gpu_figures(plan, profiles),
        bound=bound,
        validation=_validation(validation),
    )
