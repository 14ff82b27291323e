"""From GPU types, targets and rules to the generalized packing problem: items, options, capacities.

Each model is an item; each of its *options* is one profiled point on one GPU type, with the model's
own demand per packed resource (server removed: a GPU holds ``server + Σ (model − server)``, the
server counted once per GPU, as in ``packer.problem``). A GPU of type t allows, per resource,
``capacity × min(threshold, 100 − headroom) %`` in total, so ``room = that − server`` for models.

Options are the candidates the solver may pick from: with ``choose_points`` every measured point
that fits an empty GPU (and meets the model's p99 bound), minus points another dominates (no more
demand anywhere, no less throughput); without it, the one point ``select_point`` picks per type.
Targets also pack GPU and memory-controller utilization: a replica keeps its profiled throughput
only if its GPU is not oversubscribed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from packer.fleet import NO_RULES, Goal, GpuType, Rules, Target
from packer.fleet_io import did_you_mean
from packer.fleet_rules import check_rules, together_groups
from packer.problem import GPU_UTIL, HOST_MEMORY, MEM_UTIL, MEMORY, Objective, Resource, Selection, Thresholds
from packer.problem import select_point as select_fixed_point
from profiler.errors import InputError
from profiler.schema import ProfilePoint

ANY_POINT = Selection()


@dataclass(frozen=True)
class Option:
    """One way to run a replica: ``point`` on GPU type ``type_index``, ``demand`` per packed resource."""

    type_index: int
    point: ProfilePoint
    demand: tuple[float, ...]

    @property
    def throughput(self) -> float:
        """The point's profiled throughput, infer/s."""
        return self.point.throughput or 0.0


@dataclass(frozen=True)
class FleetItem:
    """One model, its candidate options (on any type) and its target, if any."""

    model: str
    options: tuple[Option, ...]
    target: Target | None = None


@dataclass(frozen=True)
class FleetProblem:
    """The generalized problem; ``server[t][r]`` and ``room[t][r]`` per GPU type and packed resource."""

    goal: Goal
    objective: Objective
    resources: tuple[Resource, ...]
    types: tuple[GpuType, ...]
    server: tuple[tuple[float, ...], ...]
    room: tuple[tuple[float, ...], ...]
    items: tuple[FleetItem, ...]
    groups: tuple[tuple[int, ...], ...]
    rules: Rules
    thresholds: Thresholds
    choose_points: bool
    gpu_budget: int | None = None

    def __post_init__(self) -> None:
        if (self.gpu_budget is None) == (not self.goal.minimizes):
            raise ValueError(f"goal {self.goal.value} and gpu budget {self.gpu_budget} disagree")

    @property
    def has_targets(self) -> bool:
        """True when at least one model has a throughput target."""
        return any(item.target for item in self.items)


def limit_pct(resource: Resource, thresholds: Thresholds, headroom_pct: float | None) -> float:
    """The % of a GPU's ``resource`` all models and the server together may use."""
    if resource in (MEMORY, HOST_MEMORY):
        pct = thresholds.max_memory_pct
    else:
        pct = thresholds.max_gpu_util_pct if resource is GPU_UTIL else thresholds.max_mem_util_pct
    return pct if headroom_pct is None else min(pct, 100 - headroom_pct)


def _resources(types: tuple[GpuType, ...], utilization: bool) -> tuple[Resource, ...]:
    memory = HOST_MEMORY if all(t.profile.metadata.device == "cpu" for t in types) else MEMORY
    return (memory, GPU_UTIL, MEM_UTIL) if utilization else (memory,)


@dataclass(frozen=True)
class _Context:
    """What option building needs about one GPU type."""

    index: int
    gpu_type: GpuType
    resources: tuple[Resource, ...]
    server: tuple[float, ...]
    room: tuple[float, ...]


def _demand(ctx: _Context, point: ProfilePoint) -> tuple[float, ...]:
    values = []
    for r in ctx.resources:
        value = getattr(point, r.attr)
        if value is None:
            raise InputError(
                f"{ctx.gpu_type.profile.source}: model {point.model!r} (batch {point.batch_size}, "
                f"concurrency {point.concurrency}) has no {r.column}, needed to pack {r.name}",
                "profile on a GPU, or plan without targets and with --objective min-gpus",
            )
        values.append(value)
    return tuple(max(0.0, v - s) for v, s in zip(values, ctx.server, strict=True))


def _too_big(ctx: _Context, point: ProfilePoint, demand: tuple[float, ...]) -> str | None:
    for r, d, c, s in zip(ctx.resources, demand, ctx.room, ctx.server, strict=True):
        if d > c + 1e-9:
            return (
                f"needs {d + s:g} {r.unit} of {r.name} (server included) at batch {point.batch_size}, "
                f"concurrency {point.concurrency}, more than the {c + s:g} {r.unit} "
                f"a {ctx.gpu_type.name} GPU allows"
            )
    return None


def _fits(ctx: _Context, point: ProfilePoint) -> bool:
    """True when ``point`` fits an empty GPU of this type; an unmeasured resource does not count."""
    return all(
        getattr(point, r.attr) is None or getattr(point, r.attr) - s <= c
        for r, c, s in zip(ctx.resources, ctx.room, ctx.server, strict=True)
    )


def _dominated(options: list[Option]) -> list[Option]:
    """Drop options another one beats: no more demand anywhere and no less throughput (first kept on ties)."""
    kept: list[Option] = []
    for k, o in enumerate(options):
        beaten = any(
            all(a <= b for a, b in zip(q.demand, o.demand, strict=True))
            and q.throughput >= o.throughput
            and (q.demand != o.demand or q.throughput != o.throughput or j < k)
            for j, q in enumerate(options)
            if j != k
        )
        if not beaten:
            kept.append(o)
    return kept


def _candidates(
    ctx: _Context, model: str, selection: Selection, target: Target | None
) -> tuple[list[ProfilePoint], str]:
    """The measured points of ``model`` on this type that pass the filters, or none and why."""
    points = [p for p in ctx.gpu_type.profile.points_for(model) if p.ok]
    if not points:
        return [], f"{ctx.gpu_type.name}: no measured point"
    points = [
        p
        for p in points
        if selection.batch_size in (None, p.batch_size) and selection.concurrency in (None, p.concurrency)
    ]
    if not points:
        wanted = f"batch {selection.batch_size or 'any'}, concurrency {selection.concurrency or 'any'}"
        return [], f"{ctx.gpu_type.name}: no profiled point at {wanted}"
    bound = target.max_latency_p99_ms if target else None
    if bound is not None:
        measured = [p.latency_p99_ms for p in points if p.latency_p99_ms is not None]
        points = [p for p in points if p.latency_p99_ms is not None and p.latency_p99_ms <= bound]
        if not points:
            best = f"lowest p99 {min(measured):g} ms" if measured else "no latency_p99_ms measured"
            return [], f"{ctx.gpu_type.name}: no point with p99 ≤ {bound:g} ms ({best})"
    if target is not None:
        points = [p for p in points if (p.throughput or 0) > 0]
    return points, f"{ctx.gpu_type.name}: no point with throughput above 0"


def _options(
    ctx: _Context, model: str, selection: Selection, target: Target | None, choose: bool
) -> tuple[list[Option], str]:
    """The options of ``model`` on this type, and why there are none when there are none."""
    points, why = _candidates(ctx, model, selection, target)
    if not points:
        return [], why
    if not choose:
        profile = replace(ctx.gpu_type.profile, points=tuple(points))
        points = [select_fixed_point(profile, model, ANY_POINT, lambda p: _fits(ctx, p))]
    elif len({p.key for p in points}) < len(points):
        raise InputError(
            f"{ctx.gpu_type.profile.source}: model {model!r} has duplicate rows for the same "
            "batch/concurrency/instances",
            "remove the duplicates",
        )
    options, reasons = [], []
    for p in points:
        demand = _demand(ctx, p)
        reason = _too_big(ctx, p, demand)
        if reason:
            reasons.append(reason)
        else:
            options.append(Option(ctx.index, p, demand))
    return _dominated(options), (f"{ctx.gpu_type.name}: {reasons[0]}" if reasons else why)


def _contexts(
    types: tuple[GpuType, ...],
    resources: tuple[Resource, ...],
    thresholds: Thresholds,
    headroom: float | None,
) -> list[_Context]:
    contexts = []
    for t, gpu_type in enumerate(types):
        server = tuple(getattr(gpu_type.profile.server, r.attr) or 0.0 for r in resources)
        capacity = [gpu_type.memory_mb if r in (MEMORY, HOST_MEMORY) else 100.0 for r in resources]
        room = tuple(
            c * limit_pct(r, thresholds, headroom) / 100 - s
            for r, c, s in zip(resources, capacity, server, strict=True)
        )
        for r, c in zip(resources, room, strict=True):
            if c <= 0:
                raise InputError(
                    f"GPU type {gpu_type.name!r}: the server alone uses all the {r.name} allowed "
                    "(threshold or headroom too tight?)"
                )
        contexts.append(_Context(t, gpu_type, resources, server, room))
    return contexts


def _check_names(
    models: list[str], types: tuple[GpuType, ...], targets: tuple[Target, ...], rules: Rules
) -> None:
    type_names = [t.name for t in types]
    named = [(t.model, "--targets") for t in targets] + [(m, "pin") for m, _ in rules.pins]
    named += [(m, "--apart") for g in rules.apart for m in g] + [
        (m, "--together") for g in rules.together for m in g
    ]
    for model, where in named:
        if model not in models:
            raise InputError(f"{where}: unknown model {model!r} (in no profile)", did_you_mean(model, models))
    for model, gpu_type in rules.pins:
        if gpu_type not in type_names:
            raise InputError(
                f"pin {model}={gpu_type}: unknown GPU type {gpu_type!r}", did_you_mean(gpu_type, type_names)
            )


def _reachable(item: FleetItem, types: tuple[GpuType, ...]) -> None:
    """Refuse a target that every available GPU, one replica each at its fastest point, cannot reach."""
    best = {}
    for o in item.options:
        best[o.type_index] = max(best.get(o.type_index, 0.0), o.throughput)
    if any(types[t].count is None for t in best) or item.target is None:
        return
    most = sum(types[t].count * w for t, w in best.items())
    if most < item.target.throughput:
        raise InputError(
            f"model {item.model!r}: target {item.target.throughput:g} infer/s is unreachable: at most "
            f"{most:g} infer/s with one replica per available GPU at its fastest allowed point",
            "raise the GPU counts in the fleet file, relax the p99 bound, or lower the target",
        )


def build_fleet_problem(
    types: tuple[GpuType, ...],
    goal: Goal,
    objective: Objective,
    thresholds: Thresholds,
    *,
    targets: tuple[Target, ...] = (),
    rules: Rules = NO_RULES,
    selection: Selection = ANY_POINT,
    choose_points: bool = False,
    gpu_budget: int | None = None,
) -> FleetProblem:
    """Validate names and rules, build each model's options; ``InputError`` for anything unplannable."""
    models = list(dict.fromkeys(m for t in types for m in t.profile.models()))
    _check_names(models, types, targets, rules)
    resources = _resources(types, objective is Objective.THROUGHPUT or bool(targets))
    contexts = _contexts(types, resources, thresholds, rules.headroom_pct)
    by_model = {t.model: t for t in targets}
    pins = rules.pin_of
    items = []
    for model in models:
        allowed = [c for c in contexts if pins.get(model, c.gpu_type.name) == c.gpu_type.name]
        options, reasons = [], []
        for ctx in allowed:
            found, why = _options(ctx, model, selection, by_model.get(model), choose_points)
            options += found
            reasons += [] if found else [why]
        if not options:
            pinned = f" (pinned to {pins[model]!r})" if model in pins else ""
            raise InputError(
                f"model {model!r} cannot be placed{pinned}: {'; '.join(reasons)}",
                "a bigger GPU type, a higher threshold, less headroom, a looser p99 bound or --choose-points",
            )
        items.append(FleetItem(model, tuple(options), by_model.get(model)))
    if goal.minimizes:
        for item in items:
            _reachable(item, types)
    groups = together_groups(models, rules)
    check_rules(items, groups, rules, [t.name for t in types])
    return FleetProblem(
        goal=goal,
        objective=objective,
        resources=resources,
        types=types,
        server=tuple(c.server for c in contexts),
        room=tuple(c.room for c in contexts),
        items=tuple(items),
        groups=groups,
        rules=rules,
        thresholds=thresholds,
        choose_points=choose_points,
        gpu_budget=gpu_budget,
    )
