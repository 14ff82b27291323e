"""From profiles, GPU types, targets and rules to the packing problem: items, options, room per GPU.

Each model is an item; each of its *options* is one profiled point on one GPU type, with the model's
own demand per packed resource (server removed: a GPU holds ``server + Σ (model − server)``, the
server counted once per GPU). A GPU of type t allows, per resource, ``resources.limit`` in total,
so ``room = limit − server`` for models.

The plain case (the blog's two case studies) is one GPU type without a count, one option per model (the point
``select_point`` picks), no targets, no rules, no budget (``Problem.plain``): the planner sends it
to the exact bin-packing engines. Everything else is a multiple-choice problem: with
``choose_points`` every measured point that fits an empty GPU (and meets the model's p99 bound) is
an option, minus points another dominates (no more demand anywhere, no less throughput). Targets
also pack GPU and memory-controller utilization: a replica keeps its profiled throughput only if
its GPU is not oversubscribed.

A utilization that no profile measures (memory-controller utilization in Model Analyzer 1.x) is
dropped from the packed set; one that some GPU types' profiles lack is not packed on those types
(their options' demand and server are 0 there). Either way a note says so, once: the resource is
absent, not zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from packer.fleet_file import did_you_mean
from packer.inputs import DEFAULT_TYPE, GpuType, Target
from packer.resources import Resource, limit, own_demand, packed_resources, split_absent
from packer.rules import NO_RULES, Rules, check_rules, together_groups
from packer.settings import ANY_POINT, Goal, Objective, Selection, Thresholds
from profiler import InputError, Profile, ProfilePoint


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
class Item:
    """One model, its candidate options (on any type) and its target, if any."""

    model: str
    options: tuple[Option, ...]
    target: Target | None = None


@dataclass(frozen=True)
class Problem:
    """The packing problem; ``server[t][r]`` and ``room[t][r]`` per GPU type and packed resource."""

    goal: Goal
    objective: Objective
    resources: tuple[Resource, ...]
    types: tuple[GpuType, ...]
    server: tuple[tuple[float, ...], ...]
    room: tuple[tuple[float, ...], ...]
    items: tuple[Item, ...]
    groups: tuple[tuple[int, ...], ...]
    rules: Rules
    thresholds: Thresholds
    choose_points: bool
    gpu_budget: int | None = None
    # Model → measured slowdown beside other models (``interference``); inflates its utilizations.
    slowdown: Mapping[str, float] = field(default_factory=dict)
    # absent[t]: the packed resources type t's profile does not measure (not packed on t).
    absent: tuple[frozenset[Resource], ...] = ()
    # What the user should know about the inputs: said once, in the plan's notes.
    notes: tuple[str, ...] = ()

    def packs(self, t: int, resource: Resource) -> bool:
        """True when ``resource`` is packed on GPU type ``t`` (in the set and measured there)."""
        return resource in self.resources and not (self.absent and resource in self.absent[t])

    def __post_init__(self) -> None:
        if (self.gpu_budget is None) == (not self.goal.minimizes):
            raise ValueError(f"goal {self.goal.value} and gpu budget {self.gpu_budget} disagree")

    @property
    def has_targets(self) -> bool:
        """True when at least one model has a throughput target."""
        return any(item.target for item in self.items)

    @property
    def plain(self) -> bool:
        """The plain case: one GPU type without a count, one fixed option per model, nothing else.

        The planner packs plain problems with the exact bin-packing engines (``binpacking``).
        """
        return (
            len(self.types) == 1
            and self.types[0].count is None
            and self.goal is Goal.MIN_GPUS
            and not self.choose_points
            and not self.has_targets
            and self.rules.empty
            and all(len(item.options) == 1 for item in self.items)
        )


@dataclass(frozen=True)
class _Context:
    """What option building needs about one GPU type."""

    index: int
    gpu_type: GpuType
    resources: tuple[Resource, ...]
    server: tuple[float, ...]
    room: tuple[float, ...]
    slowdown: Mapping[str, float]
    absent: frozenset[Resource] = frozenset()

    @property
    def label(self) -> str:
        """`` large-48gb`` for a named type, empty for the single default type (the prefix of "GPU")."""
        return "" if self.gpu_type.name == DEFAULT_TYPE else f" {self.gpu_type.name}"

    def why(self, reason: str) -> str:
        """``reason`` prefixed with the type's name where there are named types."""
        return reason if not self.label else f"{self.gpu_type.name}: {reason}"


def _demand(ctx: _Context, point: ProfilePoint) -> tuple[float, ...]:
    values = []
    for r in ctx.resources:
        value = getattr(point, r.attr)
        if r in ctx.absent:
            value = 0.0  # not measured by this type's profile: not packed on it (a note says so)
        if value is None:
            raise InputError(
                f"{ctx.gpu_type.profile.source}: model {point.model!r} (batch {point.batch_size}, "
                f"concurrency {point.concurrency}) has no {r.column}, needed to pack {r.name}",
                "profile on a GPU, or plan without targets and with --objective min-gpus",
            )
        values.append(value)
    slowdown = ctx.slowdown.get(point.model, 1.0)
    return tuple(
        own_demand(r, v, s, slowdown, c)
        for r, v, s, c in zip(ctx.resources, values, ctx.server, ctx.room, strict=True)
    )


def _too_big(ctx: _Context, point: ProfilePoint, demand: tuple[float, ...]) -> str | None:
    for r, d, c, s in zip(ctx.resources, demand, ctx.room, ctx.server, strict=True):
        if d > c + 1e-9:
            return (
                f"needs {d + s:g} {r.unit} of {r.name} (server included) at batch {point.batch_size}, "
                f"concurrency {point.concurrency}, more than the {c + s:g} {r.unit} a{ctx.label} GPU allows"
            )
    return None


def _fits(ctx: _Context, point: ProfilePoint) -> bool:
    """True when ``point`` fits an empty GPU of this type; an unmeasured resource does not count."""
    slowdown = ctx.slowdown.get(point.model, 1.0)
    return all(
        getattr(point, r.attr) is None
        or r in ctx.absent
        or own_demand(r, getattr(point, r.attr), s, slowdown, c) <= c
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


def select_point(profile: Profile, model: str, fits: Callable[[ProfilePoint], bool]) -> ProfilePoint:
    """The one point ``model`` uses without --choose-points: the marked one, else the fastest that fits.

    ``profile`` holds only the candidate points (already filtered); duplicates need a mark.
    """
    points = profile.points_for(model)
    marked = [p for p in points if p.selected]
    if len(marked) > 1:
        raise InputError(f"{profile.source}: model {model!r} has {len(marked)} rows marked selected")
    if marked:
        return marked[0]
    keys = [p.key for p in points]
    if len(set(keys)) < len(keys):
        raise InputError(
            f"{profile.source}: model {model!r} has duplicate rows for the same "
            "batch/concurrency/instances/variant",
            "remove the duplicates, or mark the one to use with selected=true",
        )
    fitting = [p for p in points if fits(p)] or list(points)
    return max(fitting, key=lambda p: (p.throughput, -p.batch_size, -p.concurrency, -p.instance_count))


def _candidates(
    ctx: _Context, model: str, selection: Selection, target: Target | None
) -> tuple[list[ProfilePoint], str]:
    """The measured points of ``model`` on this type that pass the filters, or none and why."""
    measured = [p for p in ctx.gpu_type.profile.points_for(model) if p.ok]
    if not measured:
        return [], ctx.why("no measured point")
    points = [
        p
        for p in measured
        if selection.batch_size in (None, p.batch_size) and selection.concurrency in (None, p.concurrency)
    ]
    if not points:
        wanted = f"batch {selection.batch_size or 'any'}, concurrency {selection.concurrency or 'any'}"
        have = ", ".join(f"b{p.batch_size}/c{p.concurrency}" for p in measured)
        return [], ctx.why(f"has no profiled point at {wanted} (has {have})")
    bound = target.max_latency_p99_ms if target else None
    if bound is not None:
        p99 = [p.latency_p99_ms for p in points if p.latency_p99_ms is not None]
        points = [p for p in points if p.latency_p99_ms is not None and p.latency_p99_ms <= bound]
        if not points:
            best = f"lowest p99 {min(p99):g} ms" if p99 else "no latency_p99_ms measured"
            return [], ctx.why(f"no point with p99 ≤ {bound:g} ms ({best})")
    if target is not None:
        points = [p for p in points if (p.throughput or 0) > 0]
    return points, ctx.why("no point with throughput above 0")


def _options(
    ctx: _Context, model: str, selection: Selection, target: Target | None, choose: bool
) -> tuple[list[Option], str]:
    """The options of ``model`` on this type, and why there are none when there are none."""
    points, why = _candidates(ctx, model, selection, target)
    if not points:
        return [], why
    if not choose:
        profile = replace(ctx.gpu_type.profile, points=tuple(points))
        points = [select_point(profile, model, lambda p: _fits(ctx, p))]
    elif len({p.key for p in points}) < len(points):
        raise InputError(
            f"{ctx.gpu_type.profile.source}: model {model!r} has duplicate rows for the same "
            "batch/concurrency/instances/variant",
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
    return _dominated(options), (ctx.why(reasons[0]) if reasons else why)


def _contexts(
    types: tuple[GpuType, ...],
    resources: tuple[Resource, ...],
    thresholds: Thresholds,
    headroom: float | None,
    slowdown: Mapping[str, float],
    absent: tuple[frozenset[Resource], ...],
) -> list[_Context]:
    contexts = []
    for t, gpu_type in enumerate(types):
        server = tuple(
            0.0 if r in absent[t] else getattr(gpu_type.profile.server, r.attr) or 0.0 for r in resources
        )
        room = tuple(
            limit(r, gpu_type.usable_memory_mb, thresholds, headroom) - s
            for r, s in zip(resources, server, strict=True)
        )
        for r, c in zip(resources, room, strict=True):
            if c <= 0:
                where = f"GPU type {gpu_type.name!r}: the" if gpu_type.name != DEFAULT_TYPE else "The"
                raise InputError(
                    f"{where} server alone uses all the {r.name} allowed on a GPU "
                    "(threshold or headroom too tight?)"
                )
        contexts.append(_Context(t, gpu_type, resources, server, room, slowdown, absent[t]))
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


def _reachable(item: Item, types: tuple[GpuType, ...]) -> None:
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


def build_problem(
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
    slowdown: Mapping[str, float] | None = None,
) -> Problem:
    """Validate names and rules, build each model's options; ``InputError`` for anything unplannable.

    ``slowdown``: model → measured slowdown beside other models (``interference``), ≥ 1.
    """
    slowdown = dict(slowdown or {})
    models = list(dict.fromkeys(m for t in types for m in t.profile.models()))
    _check_names(models, types, targets, rules)
    cpu_only = all(t.profile.metadata.device == "cpu" for t in types)
    resources = packed_resources(cpu_only, objective is Objective.THROUGHPUT or bool(targets))
    resources, absent, notes = split_absent(types, resources)
    contexts = _contexts(types, resources, thresholds, rules.headroom_pct, slowdown, absent)
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
                "a bigger GPU (--gpu-memory or a fleet type), a higher threshold, less headroom, a looser "
                "p99 bound, another --batch/--concurrency, or --choose-points",
            )
        items.append(Item(model, tuple(options), by_model.get(model)))
    if goal.minimizes:
        for item in items:
            _reachable(item, types)
    groups = together_groups(models, rules)
    types_of = [{o.type_index for o in item.options} for item in items]
    check_rules(models, types_of, groups, rules, [t.name for t in types])
    return Problem(
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
        slowdown=slowdown,
        absent=absent,
        notes=tuple(dict.fromkeys([*(n for t in types for n in t.profile.notes), *notes])),
    )


def plain_problem(
    profile: Profile,
    objective: Objective,
    gpu_memory_mb: float,
    thresholds: Thresholds,
    selection: Selection = ANY_POINT,
) -> Problem:
    """The plain problem: one GPU type (``gpu_memory_mb`` each, as many as needed), one point per model."""
    gpu = GpuType(DEFAULT_TYPE, gpu_memory_mb, profile)
    return build_problem((gpu,), Goal.MIN_GPUS, objective, thresholds, selection=selection)
