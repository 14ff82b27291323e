"""From profiles, GPU types, targets and rules to the packing problem: items, options, room per GPU.

Each model is an item with its candidate *options* (``candidates``: a profiled point on a GPU type
and its demand per packed resource). Names in targets and rules are checked, targets must be
reachable, and contradictory rules are refused, all before any solving.

The plain case (the blog's two case studies) is one GPU type without a count, one option per model,
no targets, no rules, no budget (``Problem.plain``): the planner sends it to the exact bin-packing
engines. Everything else is a multiple-choice problem. Targets also pack GPU and memory-controller
utilization: a replica keeps its profiled throughput only if its GPU is not oversubscribed.

A utilization that no profile measures (memory-controller utilization in Model Analyzer 1.x) is
dropped from the packed set; one that some GPU types' profiles lack is not packed on those types
(their options' demand and server are 0 there). Either way a note says so, once: the resource is
absent, not zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from packer.candidates import Option, options_on, type_contexts
from packer.colocation import Load, load_of, min_ratio_for, ratios
from packer.fleet_file import choices_hint
from packer.inputs import DEFAULT_TYPE, GpuType, Target
from packer.resources import GPU_UTIL, Resource, packed_resources, split_absent
from packer.rules import NO_RULES, Rules, check_rules, together_groups
from packer.settings import ANY_POINT, Goal, Objective, Selection, Thresholds
from profiler import InputError, Profile, ProfilePoint


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
    # The least predicted ratio (measured / profiled throughput) a model may run at beside others
    # (``colocation``); ``None``: not predicted (memory-only plans, profiles without GPU utilization, MIG).
    colocation: float | None = None

    def packs(self, t: int, resource: Resource) -> bool:
        """True when ``resource`` is packed on GPU type ``t`` (in the set and measured there)."""
        return resource in self.resources and not (self.absent and resource in self.absent[t])

    def colocates(self, t: int) -> bool:
        """True when models sharing a GPU of type ``t`` are held to their predicted ratios."""
        return self.colocation is not None and self.packs(t, GPU_UTIL)

    def colocation_holds(self, t: int, points: Sequence[ProfilePoint]) -> bool:
        """True when every point sharing a GPU of type ``t`` keeps its least allowed ratio (or none is held).

        The least ratio is ``colocation``, raised by a model's p99 bound (``colocation.min_ratio_for``).
        """
        predicted = self.predicted_ratios(t, points)
        return all(r >= self.least_ratio(p) - 1e-9 for p, r in zip(points, predicted, strict=False))

    def least_ratio(self, point: ProfilePoint) -> float:
        """The least predicted ratio ``point`` may share a GPU at: ``colocation``, raised by its p99 bound."""
        return min_ratio_for(point, self.colocation or 0.0, self.p99_bounds.get(point.model))

    @cached_property
    def p99_bounds(self) -> dict[str, float | None]:
        """Model → its target's p99 bound (ms), for the models with a target; built once."""
        return {item.model: item.target.max_latency_p99_ms for item in self.items if item.target}

    def predicted_ratios(self, t: int, points: Sequence[ProfilePoint]) -> tuple[float, ...]:
        """The predicted ratios of ``points`` sharing a GPU of type ``t`` (``colocation.ratios``).

        Empty where none is predicted: one model alone, or sharing not held to the prediction.
        """
        if len(points) < 2 or not self.colocates(t):
            return ()
        server = self.server[t][self.resources.index(GPU_UTIL)]
        return ratios([load_of(p, server) or Load(0.0) for p in points])

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
            and not self.sliced
        )

    @property
    def sliced(self) -> bool:
        """True when some GPU type may be cut into MIG slices (planned by ``packer.mig``)."""
        return any(t.mig is not None for t in self.types)


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
            raise InputError(f"{where}: unknown model {model!r} (in no profile)", choices_hint(model, models))
    for model, gpu_type in rules.pins:
        if gpu_type not in type_names:
            raise InputError(
                f"pin {model}={gpu_type}: unknown GPU type {gpu_type!r}", choices_hint(gpu_type, type_names)
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
            f"model {item.model!r}: target {item.target.throughput:g} {item.target.unit} is unreachable: at "
            f"most {most:g} {item.target.unit} with one replica per available GPU at its fastest allowed "
            "point",
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
    colocation: float | None = None,
) -> Problem:
    """Validate names and rules, build each model's options; ``InputError`` for anything unplannable.

    ``slowdown``: model → measured slowdown beside other models (``interference``), ≥ 1.
    ``colocation``: the least predicted ratio a model may run at beside others (``packer.colocation``),
    ``None`` to leave sharing to the packed utilizations; it applies only where GPU utilization is
    packed and measured, and not to MIG slices (isolated).
    """
    slowdown = dict(slowdown or {})
    models = list(dict.fromkeys(m for t in types for m in t.profile.models()))
    _check_names(models, types, targets, rules)
    cpu_only = all(t.profile.metadata.device == "cpu" for t in types)
    resources = packed_resources(cpu_only, objective is Objective.THROUGHPUT or bool(targets))
    resources, absent, notes = split_absent(types, resources)
    contexts = type_contexts(types, resources, thresholds, rules.headroom_pct, slowdown, absent)
    by_model = {t.model: t for t in targets}
    pins = rules.pin_of
    items = []
    for model in models:
        allowed = [c for c in contexts if pins.get(model, c.gpu_type.name) == c.gpu_type.name]
        options, reasons = [], []
        for ctx in allowed:
            found, why = options_on(ctx, model, selection, by_model.get(model), choose_points)
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
    if GPU_UTIL not in resources or any(t.mig is not None for t in types):
        colocation = None
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
        colocation=colocation,
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
