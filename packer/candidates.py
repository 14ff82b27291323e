"""A model's candidate options on each GPU type: which profiled points, and what each demands.

An option is one profiled point on one GPU type, with the model's own demand per packed resource
(``resources.point_demand``: the server removed, a streaming model's memory its weights + KV cache
× sequences in flight, utilizations inflated by a measured slowdown). Per
type, a ``TypeContext`` holds the server's load and the room a GPU has for models
(``resources.limit`` − server). Without ``choose_points`` a model's one option is the point
``select_point`` picks; with it every measured point that fits an empty GPU (and meets the model's
p99 bound) is an option, minus points another dominates (no more demand anywhere, no less
throughput).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from packer.inputs import DEFAULT_TYPE, GpuType, Target
from packer.resources import Resource, limit, point_demand
from packer.settings import Selection, Thresholds
from profiler import InputError, Profile, ProfilePoint


@dataclass(frozen=True)
class Option:
    """One way to run a replica: ``point`` on GPU type ``type_index``, ``demand`` per packed resource."""

    type_index: int
    point: ProfilePoint
    demand: tuple[float, ...]
    target: Target | None = None

    @property
    def throughput(self) -> float:
        """What the replica serves: the point's infer/s, or its tokens/s for a target in tokens/s."""
        return self.target.rate(self.point) if self.target else self.point.throughput or 0.0


@dataclass(frozen=True)
class TypeContext:
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


def _demand(ctx: TypeContext, point: ProfilePoint) -> tuple[float, ...]:
    slowdown = ctx.slowdown.get(point.model, 1.0)
    values = []
    for r, s, c in zip(ctx.resources, ctx.server, ctx.room, strict=True):
        if r in ctx.absent:
            values.append(0.0)  # not measured by this type's profile: not packed on it (a note says so)
            continue
        value = point_demand(r, point, s, slowdown, c)
        if value is None:
            raise InputError(
                f"{ctx.gpu_type.profile.source}: model {point.model!r} (batch {point.batch_size}, "
                f"concurrency {point.concurrency}) has no {r.column}, needed to pack {r.name}",
                "profile on a GPU, or plan without targets and with --objective min-gpus",
            )
        values.append(value)
    return tuple(values)


def _too_big(ctx: TypeContext, point: ProfilePoint, demand: tuple[float, ...]) -> str | None:
    for r, d, c, s in zip(ctx.resources, demand, ctx.room, ctx.server, strict=True):
        if d > c + 1e-9:
            return (
                f"needs {d + s:g} {r.unit} of {r.name} (server included) at batch {point.batch_size}, "
                f"concurrency {point.concurrency}, more than the {c + s:g} {r.unit} a{ctx.label} GPU allows"
            )
    return None


def _fits(ctx: TypeContext, point: ProfilePoint) -> bool:
    """True when ``point`` fits an empty GPU of this type; an unmeasured resource does not count."""
    slowdown = ctx.slowdown.get(point.model, 1.0)
    demands = (
        None if r in ctx.absent else point_demand(r, point, s, slowdown, c)
        for r, c, s in zip(ctx.resources, ctx.room, ctx.server, strict=True)
    )
    return all(d is None or d <= c for d, c in zip(demands, ctx.room, strict=True))


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
    ctx: TypeContext, model: str, selection: Selection, target: Target | None
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
    for attr, name, bound in target.bounds() if target else ():
        measured = [getattr(p, attr) for p in points if getattr(p, attr) is not None]
        points = [p for p in points if getattr(p, attr) is not None and getattr(p, attr) <= bound]
        if not points:
            best = f"lowest {name} {min(measured):g} ms" if measured else f"no {attr} measured"
            return [], ctx.why(f"no point with {name} ≤ {bound:g} ms ({best})")
    if target is not None:
        points = [p for p in points if target.rate(p) > 0]
    return points, ctx.why(f"no point with {target.unit if target else 'throughput'} above 0")


def options_on(
    ctx: TypeContext, model: str, selection: Selection, target: Target | None, choose: bool
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
            options.append(Option(ctx.index, p, demand, target))
    return _dominated(options), (ctx.why(reasons[0]) if reasons else why)


def type_contexts(
    types: tuple[GpuType, ...],
    resources: tuple[Resource, ...],
    thresholds: Thresholds,
    headroom: float | None,
    slowdown: Mapping[str, float],
    absent: tuple[frozenset[Resource], ...],
) -> list[TypeContext]:
    """Per GPU type, its server load and room for models; ``InputError`` if the server takes it all."""
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
        contexts.append(TypeContext(t, gpu_type, resources, server, room, slowdown, absent[t]))
    return contexts
