"""The config search's decisions: which (variant, batch size, concurrency) points to measure.

Pure logic over a ``measure(variant, batch_size, concurrency) -> ProfilePoint`` callable, so that it
runs the same on a real server (``search_run``) and on recorded samples (the unit tests).

``brute`` measures every variant at every point it can take (a batch size within its max_batch_size).

``quick`` measures far fewer. Variants that differ only in their instance count form a *family*
(same batcher, queue delay, max_batch_size); per batch size, the largest first, each family is walked
from 1 instance up:

1. per variant, concurrency rises (smallest first) until ``patience`` (2) steps in a row do not pay,
   a step paying when its p99 is within the model's bound and its throughput at least ``growth``
   (5 %) above the line's best so far; or at once when a point fails or memory passes the limit.
   One step is not enough: with a 0 queue delay, two requests in lockstep never share a call, so
   concurrency 2 can add nothing where 4 doubles the throughput (seen in the recorded samples);
   Model Analyzer waits for 4 such steps (its THROUGHPUT_MINIMUM_CONSECUTIVE_*_TRIES). A step whose
   p99 is clearly past the bound (by more than ``growth``) ends the line at once when the variant
   has no queue delay (``past_bound``): in a closed loop more requests then only wait longer;
2. instances are added until ``patience`` (2) instance counts in a row do not pay, one paying when
   its best point within the bound (``best_point``) is at least ``growth`` above the family's best so
   far; or at once when memory passes the limit: a further instance then only costs memory. One is
   not enough, for the reason of step 1 on the other axis: at batch 1 with 4 requests a call,
   concurrency 16 takes 4 instances for one round, so 3 add nothing at 8 (the load) and are past
   the bound at 16 where 4 double the throughput (measured, benchmarks/results/model-analyzer-side-
   by-side/large-space). A variant's concurrency starts at the family's best point: below it that
   one was not saturated, so the extra instance would idle. When that point's concurrency is no
   more than its instance count, every request of it had an
   instance of its own, so this variant would repeat it: the line starts at the next concurrency,
   which must beat that point (*implied*; none left: more instances cannot pay, the family stops);
3. after each batch size, variants *dominated* there (another's best point no worse on throughput,
   memory and p99, and better by ``growth`` on throughput or memory), or with no point within the
   limits, are not measured at the (smaller) batch sizes after it; a family whose first instance
   counts are pruned starts at the next. Largest first because a call then holds the fewest
   requests, so that more instances or a larger max_batch_size pay the most there: at batch 1 a
   third instance can idle (the load is the bound) where at batch 2 it adds half (recorded).

These rules are heuristics, checked on recorded samples (tests/unit/test_config_search.py): there
quick measures a third to a half of brute's points (25-36 of 72) and finds brute's best under every
bound tried.

The best point of a model is the highest throughput within its p99 bound and the memory limit;
points within ``growth`` of it count as equal (that is the measurements' noise), and the one of them
with the fewest instances (each costs memory), then the lowest p99, then the least memory is chosen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from profiler.measure.variants import Variant
from profiler.profiles.schema import ProfilePoint

# The threshold (and Model Analyzer's THROUGHPUT_MINIMUM_GAIN): a step (more concurrency, one
# more instance) that adds less than 5 % is not worth taking; it is also about the spread of repeated
# measurements on a loaded 2-core host.
GROWTH = 0.05
# Concurrency steps in a row that may fail to pay before a variant's concurrency stops rising (see 1.).
PATIENCE = 2

Measure = Callable[[Variant, int, int], ProfilePoint]


@dataclass(frozen=True)
class SearchLimits:
    """One model's bounds: p99 latency (ms) and memory (MB; GPU memory, or host memory on a CPU)."""

    latency_p99_ms: float | None = None
    memory_mb: float | None = None
    growth: float = GROWTH
    patience: int = PATIENCE

    def __post_init__(self) -> None:
        for name in ("latency_p99_ms", "memory_mb"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if not 0 <= self.growth < 1:
            raise ValueError(f"growth must be within [0, 1), got {self.growth}")
        if self.patience < 1:
            raise ValueError(f"patience must be at least 1, got {self.patience}")


@dataclass(frozen=True)
class SearchOutcome:
    """The points measured (in measurement order) and the variants pruned as dominated."""

    points: tuple[ProfilePoint, ...]
    pruned: tuple[str, ...] = ()


def point_memory(point: ProfilePoint) -> float | None:
    """The memory a point takes: GPU memory when measured, else host memory (a CPU profile)."""
    return point.memory_mb if point.memory_mb is not None else point.host_memory_mb


def over_memory(point: ProfilePoint, limits: SearchLimits) -> bool:
    """True when the point takes more memory than the limit."""
    memory = point_memory(point)
    return limits.memory_mb is not None and memory is not None and memory > limits.memory_mb


def within(point: ProfilePoint, limits: SearchLimits) -> bool:
    """True for a measured point within the p99 bound and the memory limit."""
    if not point.ok or over_memory(point, limits):
        return False
    bound = limits.latency_p99_ms
    return bound is None or (point.latency_p99_ms is not None and point.latency_p99_ms <= bound)


def best_point(points: Sequence[ProfilePoint], limits: SearchLimits) -> ProfilePoint | None:
    """The best point within the limits (see the module docstring), None when there is none."""
    candidates = [p for p in points if within(p, limits)]
    if not candidates:
        return None
    top = max(p.throughput or 0.0 for p in candidates)
    near = [p for p in candidates if (p.throughput or 0.0) >= top * (1 - limits.growth)]
    return min(
        near,
        key=lambda p: (
            p.instance_count,
            p.latency_p99_ms or 0.0,
            point_memory(p) or 0.0,
            -(p.throughput or 0.0),
        ),
    )


def takes(variant: Variant, batch_size: int) -> bool:
    """True when ``variant`` accepts requests of ``batch_size`` (1 only, for a model that does not batch)."""
    return batch_size <= (variant.max_batch_size or 1)


def brute(
    variants: Sequence[Variant], batch_sizes: Sequence[int], concurrencies: Sequence[int], measure: Measure
) -> SearchOutcome:
    """Every variant at every batch size it takes and every concurrency."""
    return SearchOutcome(
        tuple(measure(v, b, c) for v in variants for b in batch_sizes if takes(v, b) for c in concurrencies)
    )


def _grows(before: ProfilePoint | None, after: ProfilePoint | None, growth: float) -> bool:
    if after is None or after.throughput is None:
        return False
    return before is None or before.throughput is None or after.throughput >= before.throughput * (1 + growth)


def past_bound(point: ProfilePoint, variant: Variant, limits: SearchLimits) -> bool:
    """True when more concurrency cannot bring ``point``'s p99 back within the bound (step 1).

    Its p99 is past the bound by more than ``growth`` (the noise), and ``variant`` has no queue delay
    to wait out: in a closed loop a request then waits only for those ahead of it, and more of them
    never shortens that. With a queue delay, more requests fill a call before the delay ends, so the
    p99 can fall as concurrency rises.
    """
    bound = limits.latency_p99_ms
    if bound is None or point.latency_p99_ms is None or variant.max_queue_delay_us:
        return False
    return point.latency_p99_ms > bound * (1 + limits.growth)


def concurrency_line(
    variant: Variant,
    batch_size: int,
    concurrencies: Sequence[int],
    measure: Measure,
    limits: SearchLimits,
    start: int = 0,
    implied: ProfilePoint | None = None,
) -> list[ProfilePoint]:
    """Step 1: one variant at one batch size, concurrency rising from ``start`` until it stops paying.

    ``implied``: a point below ``start`` that this variant would repeat (see step 2), the one the
    first step measured must beat.
    """
    line: list[ProfilePoint] = []
    best: ProfilePoint | None = implied
    unpaid = 0
    for concurrency in sorted(c for c in concurrencies if c >= start):
        point = measure(variant, batch_size, concurrency)
        line.append(point)
        if not point.ok or over_memory(point, limits) or past_bound(point, variant, limits):
            break
        pays = within(point, limits) and _grows(best, point, limits.growth)
        if pays:
            best = point
        unpaid = 0 if pays else unpaid + 1
        if unpaid >= limits.patience:
            break
    return line


def _family_line(
    family: Sequence[Variant],
    batch_size: int,
    concurrencies: Sequence[int],
    measure: Measure,
    limits: SearchLimits,
) -> tuple[list[ProfilePoint], dict[str, ProfilePoint | None]]:
    """Step 2: one family at one batch size, instances added until they stop paying."""
    points: list[ProfilePoint] = []
    best: dict[str, ProfilePoint | None] = {}
    previous: ProfilePoint | None = None  # the family's best so far
    unpaid = 0
    for variant in sorted(family, key=lambda v: v.instance_count):
        start, implied = 0, None
        if previous is not None:
            start = previous.concurrency
            if previous.concurrency <= previous.instance_count:  # each request had an instance of its own
                start, implied = previous.concurrency + 1, previous
        line = concurrency_line(variant, batch_size, concurrencies, measure, limits, start, implied)
        if not line:  # every concurrency it could take is implied: more instances cannot pay
            break
        points += line
        best[variant.name] = best_point(line, limits)
        if any(over_memory(p, limits) for p in line):
            break
        if _grows(previous, best[variant.name], limits.growth):
            previous, unpaid = best[variant.name], 0
            continue
        unpaid += 1
        if unpaid >= limits.patience:
            break
    return points, best


def _dominates(u: ProfilePoint, v: ProfilePoint, growth: float) -> bool:
    """``u`` is no worse than ``v`` on throughput, memory and p99, and clearly better on one of the first two.

    "No worse" and "clearly" allow ``growth`` either way, the measurements' noise; p99, the noisiest,
    never decides alone.
    """
    tu, tv = u.throughput or 0.0, v.throughput or 0.0
    mu, mv = point_memory(u) or 0.0, point_memory(v) or 0.0
    pu, pv = u.latency_p99_ms or 0.0, v.latency_p99_ms or 0.0
    no_worse = tu * (1 + growth) >= tv and mu <= mv * (1 + growth) and pu <= pv * (1 + growth)
    return no_worse and (tu >= tv * (1 + growth) or mu * (1 + growth) <= mv)


def dominated(best: dict[str, ProfilePoint | None], growth: float = GROWTH) -> set[str]:
    """Step 3: the variants to prune after a batch size.

    Those with no point within the limits, and those whose best point another's dominates.
    """
    out = {name for name, point in best.items() if point is None}
    found = {name: point for name, point in best.items() if point is not None}
    for name, point in found.items():
        if any(other != name and _dominates(them, point, growth) for other, them in found.items()):
            out.add(name)
    return out


def quick(
    variants: Sequence[Variant],
    batch_sizes: Sequence[int],
    concurrencies: Sequence[int],
    measure: Measure,
    limits: SearchLimits,
) -> SearchOutcome:
    """Far fewer points than ``brute``: steps 1-3 of the module docstring."""
    families: dict[tuple, list[Variant]] = {}
    for variant in variants:
        families.setdefault(variant.family, []).append(variant)
    points: list[ProfilePoint] = []
    pruned: set[str] = set()
    for batch_size in sorted(batch_sizes, reverse=True):
        best: dict[str, ProfilePoint | None] = {}
        for family in families.values():
            members = [v for v in family if takes(v, batch_size) and v.name not in pruned]
            if members:
                measured, family_best = _family_line(members, batch_size, concurrencies, measure, limits)
                points += measured
                best.update(family_best)
        pruned |= dominated(best, limits.growth)
    return SearchOutcome(tuple(points), tuple(v.name for v in variants if v.name in pruned))
