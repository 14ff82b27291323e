"""The numbers behind each figure of the report, computed from a plan JSON and its profiles.

Every figure is drawn from one of these records and nothing else, so a test compares numbers, not
pixels (``ReportData.to_dict`` is also embedded in the HTML). Inputs are the plan JSON (a plan
just made, or one read back: one path for both), each GPU type's profile and, where it exists,
``validation.json`` written by ``gpupack validate`` (its figures' numbers: ``validation``). The fleet
overview (``fleet``) covers every GPU; figures per GPU and per model only up to
``PER_GPU_FIGURES_MAX`` GPUs and ``PER_MODEL_FIGURES_MAX`` models, and ``left_out`` says when not.
Work is linear in the fleet: each profile is indexed by model once. Units: throughput infer/s,
latency ms, bars in % of one GPU (memory as % of the GPU's memory).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from packer.labels import point_label
from packer.reports.fleet import FleetFigure, fleet_figure, left_out_line
from packer.reports.validation import ValidationData, validation_data
from packer.resources import GPU_UTIL, HOST_MEMORY, MEM_UTIL, MEMORY, Resource
from profiler import InputError, Profile, ProfilePoint, ValidationFile

RESOURCES = {r.name: r for r in (MEMORY, HOST_MEMORY, GPU_UTIL, MEM_UTIL)}
# Above this many models the report leaves the per-model throughput–latency figures out: each holds
# every profiled point of its model, and a page of a hundred such figures is not read either.
PER_MODEL_FIGURES_MAX = 64
# Points of a profile by model: each model's points are looked up once, not by a scan of the profile.
Index = Mapping[str, Mapping[str, tuple[ProfilePoint, ...]]]


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
class ReportData:
    """Everything the report shows."""

    summary: str
    notes: tuple[str, ...]
    models: tuple[ModelFigure, ...]  # empty above PER_MODEL_FIGURES_MAX models (``left_out`` says so)
    gpus: tuple[GpuFigure, ...]  # empty above PER_GPU_FIGURES_MAX GPUs (``left_out`` says so)
    bound: BoundFigure
    fleet: FleetFigure
    validation: ValidationData | None
    left_out: tuple[str, ...]  # the figures left out, and why

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


def index_points(profile: Profile) -> Mapping[str, tuple[ProfilePoint, ...]]:
    """Each model's points of ``profile``, in file order, indexed once."""
    points: dict[str, list[ProfilePoint]] = {}
    for p in profile.points:
        points.setdefault(p.model, []).append(p)
    return {model: tuple(found) for model, found in points.items()}


def _profile_point(points: Index, type_name: str, profile: Profile, wanted: ProfilePoint) -> ProfilePoint:
    for p in points[type_name].get(wanted.model, ()):
        if p.key == wanted.key:
            return p
    raise InputError(
        f"the plan's point {point_label(wanted)} of model {wanted.model!r} is not in {profile.source}",
        "pass the profiles the plan was made from (--profiles)",
    )


def _model_figures(plan: Mapping, points: Index) -> tuple[ModelFigure, ...]:
    types = {g["index"]: g["type"] for g in plan["gpus"]}
    figures = []
    for m in plan["models"]:
        measured, missing = [], 0
        for name, by_model in points.items():
            ok = [p for p in by_model.get(m["name"], ()) if p.ok]
            dots = [Dot(point_label(p), p.throughput, p.latency_p99_ms) for p in ok if p.latency_p99_ms]
            missing += len(ok) - len(dots)
            if ok:
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


def _memory(profile: Profile, limits: Mapping) -> Resource:
    """The memory the plan packed: host memory for a CPU host's profile, else GPU memory."""
    return HOST_MEMORY if HOST_MEMORY.name in limits or profile.metadata.device == "cpu" else MEMORY


def _gpu_figures(
    plan: Mapping, profiles: Mapping[str, Profile], points: Index, draw: bool
) -> tuple[GpuFigure, ...]:
    """Each GPU's bars (only when ``draw``); every GPU's points are looked up in its profile either way."""
    limits = plan.get("limits_pct") or {}
    figures = []
    for gpu in plan["gpus"]:
        profile = profiles[gpu["type"]]
        found = [_profile_point(points, gpu["type"], profile, point_of(m["name"], m)) for m in gpu["models"]]
        if draw:
            resources = (_memory(profile, limits), GPU_UTIL, MEM_UTIL)
            bars = tuple(_bar(r, gpu, profile, found, limits) for r in resources)
            figures.append(GpuFigure(gpu["index"], gpu["type"], bars))
    return tuple(figures)


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
    points = {name: index_points(profile) for name, profile in profiles.items()}
    limits = plan.get("limits_pct") or {}
    gpus = plan["gpus"]
    fleet = fleet_figure(plan, _memory(profiles[gpus[0]["type"]], limits) if gpus else MEMORY)
    left_out = [] if fleet.per_gpu_figures else [left_out_line(fleet)]
    models = len(plan["models"])
    if models > PER_MODEL_FIGURES_MAX:
        left_out.append(
            f"per-model figures left out: {models:,} models, more than {PER_MODEL_FIGURES_MAX}; each would "
            "hold every profiled point of its model"
        )
    return ReportData(
        summary=summary(plan),
        notes=tuple(plan.get("notes", ())),
        models=_model_figures(plan, points) if models <= PER_MODEL_FIGURES_MAX else (),
        gpus=_gpu_figures(plan, profiles, points, fleet.per_gpu_figures),
        bound=bound,
        fleet=fleet,
        validation=validation_data(validation, plan),
        left_out=tuple(left_out),
    )
