"""The config search's decisions: which (variant, batch size, concurrency) points to measure.

Pure logic over a ``measure(variant, batch_size, concurrency) -> ProfilePoint`` callable, so that it
runs the same on a real server (``search_run``) and on recorded samples (the unit tests).

``brute`` measures every variant at every point it can take (a batch size within its max_batch_size).

``quick`` measures far fewer. Variants that differ only in their instance count form a *family*
(same batcher, queue delay, max_batch_size). Per batch size, the largest first:

1. each family's *top* is measured first: its most instances, where it shows the most it can do
   (throughput grows with instances until the load or the host is the bound). Its concurrency line
   starts at the largest concurrency up to its instance count (``knee``; below it some instance
   idles, and every request has an instance of its own, as with fewer instances, which step 3
   measures) and rises until ``patience`` (2) steps in a row do not pay, a step paying when its p99
   is within the model's bound and its throughput at least ``growth`` (5 %) above the line's best
   so far; or at once when a point fails or memory passes the limit. One step is not enough: with
   a 0 queue delay, two requests in lockstep never share a call, so concurrency 2 can add nothing
   where 4 doubles the throughput (seen in the recorded samples); Model Analyzer waits for 4 such
   steps (its THROUGHPUT_MINIMUM_CONSECUTIVE_*_TRIES). A step whose p99 is clearly past the bound
   (by more than ``growth``) ends the rise at once when the variant has no queue delay
   (``past_bound``): in a closed loop more requests then only wait longer. When no point of the
   rise is within the limits, concurrency falls below the start until one is (on this host a
   loaded variant's p99 is noisiest at its first points). A top with no point within the limits
   (over memory, failed, past the bound everywhere) hands over to the next fewer instances;
2. families whose top's best point another family's top *dominates* (see step 4; at their most
   instances, memory is about the same, so throughput decides) are left out, at this batch size
   and the smaller ones: a dimension that does not pay for a model is dropped after one line. So
   the batcher for a model that serves a call's requests one after another (``sleepy``: it only
   adds waiting), or the batcher without a queue delay for one whose requests arrive one by one
   (no call is filled);
3. the other families *step down*: one instance fewer at a time, at the concurrency of the
   family's best point so far, for as long as that point keeps up (within the limits and its
   throughput no more than ``growth`` below the best): the same throughput for less memory. A point
   past the bound there gets one more, a concurrency lower (fewer instances queue more requests;
   where calls contend for the host, fewer of them can serve more: tested). The first that falls
   behind is kept (a trade-off: less memory, less throughput) and ends the walk;
4. after each batch size, variants *dominated* there (another's best point no worse on throughput,
   memory and p99, and better by ``growth`` on throughput or memory), or with no point within the
   limits, are not measured at the (smaller) batch sizes after it. Largest first because a call
   then holds the fewest requests, so that more instances or a larger max_batch_size pay the most
   there: at batch 1 a third instance can idle (the load is the bound) where at batch 2 it adds
   half (recorded).

These rules are heuristics, checked by replay (``quick`` over recorded brute profiles:
tests/unit/test_config_search.py) under p99 bounds of 120, 150, 250 and 500 ms and none. On the
recorded batched_sleeper samples (9 variants, 72 points) quick measures 15 points in 7 variant loads
and finds brute's best point under every bound; on the Model Analyzer side-by-side benchmark's large
space (batched_sleeper and sleepy, 12 variants x 5 concurrencies each, 120 points) 18-22 points in
8-10 loads, and brute's best point for both models under every bound. With each point's throughput
and p99 moved by up to 5 % at random (300 draws), quick still finds brute's best throughput on the
large space every time; on the batched_sleeper samples 2 draws in 300 (under 120 and 150 ms) get
0.92 of it, the same draws as with the walk before (2 and 3 instances serve the same there, and the
noise ranks them). benchmarks/config_search_replay.py prints these figures.
The walk before (each family from 1 instance up, every count's line) took 25-36 points in 11-14
loads on the samples and 54-68 in 23-24 on the large space: live, on this host, a point costs about
3.5 s and a load 1.5-12 s (more with more instances: a Python stub process each). What quick gives
up: fewer trade-off points for the planner (lower instance counts appear only while they keep up,
and the first that falls behind), and a family is judged by its top alone (one that pays only at
fewer instances, say where instances contend for the host, is found only through the step-down).

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
    """The points measured (in measurement order) and the variants pruned (dominated, or their family)."""

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
) -> list[ProfilePoint]:
    """Step 1: one variant at one batch size, concurrency rising from ``start`` until it stops paying.

    When no point of the rise is within the limits (a failure or memory aside), concurrency then
    falls below ``start`` until one is.
    """
    line: list[ProfilePoint] = []
    best: ProfilePoint | None = None
    unpaid = 0
    for concurrency in sorted(c for c in set(concurrencies) if c >= start):
        point = measure(variant, batch_size, concurrency)
        line.append(point)
        if not point.ok or over_memory(point, limits):
            return line
        if past_bound(point, variant, limits):
            break
        pays = within(point, limits) and _grows(best, point, limits.growth)
        if pays:
            best = point
        unpaid = 0 if pays else unpaid + 1
        if unpaid >= limits.patience:
            break
    if best is not None:
        return line
    for concurrency in sorted((c for c in set(concurrencies) if c < start), reverse=True):
        point = measure(variant, batch_size, concurrency)
        line.append(point)
        if not point.ok or over_memory(point, limits) or within(point, limits):
            break
    return line


def knee(variant: Variant, concurrencies: Sequence[int]) -> int:
    """Where a variant's line starts (step 1): the largest concurrency up to its instance count.

    Below it, some instance has no request at all; each request has one of its own, so such a point
    is the same as with fewer instances, which step 3 measures. The smallest when none is that small.
    """
    fitting = [c for c in concurrencies if c <= variant.instance_count]
    return max(fitting) if fitting else min(concurrencies)


def _family_top(
    family: Sequence[Variant],
    batch_size: int,
    concurrencies: Sequence[int],
    measure: Measure,
    limits: SearchLimits,
) -> tuple[list[ProfilePoint], dict[str, ProfilePoint | None], Variant | None]:
    """Step 1 for a family: its most instances first, fewer while a count has no point within the limits."""
    points: list[ProfilePoint] = []
    best: dict[str, ProfilePoint | None] = {}
    for variant in sorted(family, key=lambda v: -v.instance_count):
        line = concurrency_line(
            variant, batch_size, concurrencies, measure, limits, knee(variant, concurrencies)
        )
        points += line
        best[variant.name] = best_point(line, limits)
        if best[variant.name] is not None:
            return points, best, variant
    return points, best, None


def _step_down(
    family: Sequence[Variant],
    top: ProfilePoint,
    batch_size: int,
    concurrencies: Sequence[int],
    measure: Measure,
    limits: SearchLimits,
) -> tuple[list[ProfilePoint], dict[str, ProfilePoint | None]]:
    """Step 3: fewer instances than the top, at the family's best concurrency, while they keep up.

    One concurrency lower when that point is past the bound: fewer instances queue more requests.
    """
    points: list[ProfilePoint] = []
    best: dict[str, ProfilePoint | None] = {}
    reference = top
    for variant in sorted(
        (v for v in family if v.instance_count < top.instance_count), key=lambda v: -v.instance_count
    ):
        tried = [measure(variant, batch_size, reference.concurrency)]
        lower = [c for c in concurrencies if c < reference.concurrency]
        if tried[0].ok and not over_memory(tried[0], limits) and not within(tried[0], limits) and lower:
            tried.append(measure(variant, batch_size, max(lower)))
        points += tried
        point = best[variant.name] = best_point(tried, limits)
        if point is None or (point.throughput or 0.0) < (reference.throughput or 0.0) * (1 - limits.growth):
            break
        if _grows(reference, point, limits.growth):
            reference = point
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
    """Far fewer points than ``brute``: steps 1-4 of the module docstring."""
    families: dict[tuple, list[Variant]] = {}
    for variant in variants:
        families.setdefault(variant.family, []).append(variant)
    points: list[ProfilePoint] = []
    pruned: set[str] = set()
    for batch_size in sorted(batch_sizes, reverse=True):
        best: dict[str, ProfilePoint | None] = {}
        tops: dict[str, tuple[list[Variant], ProfilePoint]] = {}
        for family in families.values():
            members = [v for v in family if takes(v, batch_size) and v.name not in pruned]
            if members:
                measured, family_best, top = _family_top(members, batch_size, concurrencies, measure, limits)
                points += measured
                best.update(family_best)
                if top is not None:
                    tops[top.name] = (members, family_best[top.name])
        beaten = dominated({name: point for name, (_, point) in tops.items()}, limits.growth)
        for name, (members, top_point) in tops.items():
            if name in beaten:  # step 2: the family is left out, at this batch size and the smaller ones
                pruned |= {v.name for v in members}
                continue
            measured, family_best = _step_down(members, top_point, batch_size, concurrencies, measure, limits)
            points += measured
            best.update(family_best)
        pruned |= dominated(best, limits.growth)
    return SearchOutcome(tuple(points), tuple(v.name for v in variants if v.name in pruned))
