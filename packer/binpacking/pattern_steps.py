"""Steps 4 and 5 of the one-resource engine (``one_dimension``): pattern IPs on SCIP.

Step 4 solves the IP over the column-generation patterns for one bin fewer than the best packing
(a heuristic: ``pattern_ip.column_ip``, which the vector engine runs too). Step 5 enumerates every
pattern whose reduced cost allows it in a K-bin packing and
solves the IP over them (``pattern_ip``): a K-bin packing proves the optimum, INFEASIBLE over a
complete enumeration proves K + 1 a lower bound.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from packer import work
from packer.binpacking import pattern_ip
from packer.binpacking.item_types import ItemTypes, Pattern
from packer.binpacking.patterns import PatternLp
from packer.settings import SolverSettings

# Above this many enumerated patterns the IP is no longer quick to solve, and the depth-first
# enumeration itself takes about a second in CPython.
PATTERN_LIMIT = 20_000
# Share of the work left the column-pattern heuristic may use before the exact step.
HEURISTIC_SHARE = 0.2
# Share of the work left the pattern enumeration may use, and how often it narrows the gap.
ENUMERATION_SHARE = 0.3
ENUMERATION_TRIES = 3
# The share when only a complete enumeration will do (``complete_only``): a cut one is thrown away,
# and the IP over a complete one near the LP bound is a node or two (Falkenauer T's t501 instances:
# ~1 unit of enumeration, then SCIP's root, 1 s of wall time charged 1.1 units).
COMPLETE_ENUMERATION_SHARE = 0.8


def _enumerate(
    types: ItemTypes, duals: tuple[float, ...], gap: float, deadline: float, tries: int = ENUMERATION_TRIES
) -> pattern_ip.Enumeration:
    """All patterns within ``gap``; if too many, those within gap/4, gap/16 (then incomplete)."""
    threshold = gap
    for _ in range(tries):
        found = pattern_ip.enumerate_patterns(
            types.column(0), list(types.counts), types.capacity[0], duals, threshold, PATTERN_LIMIT, deadline
        )
        if found.complete:
            full = threshold == gap
            return dataclasses.replace(found, complete=full, exact=full)
        if work.now() >= deadline:
            break
        threshold /= 4
    return dataclasses.replace(found, patterns=())


def _run_ip(
    types: ItemTypes,
    enumeration: pattern_ip.Enumeration,
    bins: int,
    settings: SolverSettings,
    deadline: float,
) -> tuple[str, list[Pattern] | None]:
    """Solve the pattern IP for ``bins``: its status, and the bins if it found a packing."""
    model, variables = pattern_ip.build_model(
        types.column(0), list(types.counts), types.capacity[0], enumeration, bins
    )
    result = pattern_ip.solve(model, settings, deadline - work.now())
    answer = pattern_ip.extract(model, result, enumeration, variables)
    if not answer.groups:
        return answer.status, None
    return answer.status, materialize(answer.groups, types)


@dataclass(frozen=True)
class Step:
    """What one exact step learned: a better packing (bins per type) and/or a higher bound."""

    bins: list[Pattern] | None
    lower: int
    note: str | None = None


def exact_step(
    types: ItemTypes,
    lp: PatternLp,
    lower: int,
    best: int,
    settings: SolverSettings,
    deadline: float,
    complete_only: bool = False,
) -> Step:
    """Step 5: the pattern IP for K = ``lower`` over every pattern a K-bin packing may use.

    ``complete_only``: no IP over a partial enumeration (the heuristic fallback) either.
    """
    gap = lower - lp.dual_value
    if gap >= 1:
        return Step(None, lower)
    now = work.now()
    tries = 1 if complete_only else ENUMERATION_TRIES
    share = COMPLETE_ENUMERATION_SHARE if complete_only else ENUMERATION_SHARE
    enumeration = _enumerate(types, lp.duals, gap, now + share * (deadline - now), tries)
    if enumeration.complete and not enumeration.patterns:
        return Step(None, lower + 1)
    if not enumeration.patterns:
        return Step(None, lower, f"more than {PATTERN_LIMIT} patterns for {lower} GPUs")
    status, bins = _run_ip(types, enumeration, lower, settings, deadline)
    if bins is not None and len(bins) < best:
        return Step(bins, lower)
    if status == "INFEASIBLE" and enumeration.complete:
        return Step(None, lower + 1)
    return Step(None, lower, f"pattern IP for {lower} GPUs: {status.lower()}")


def heuristic_step(
    types: ItemTypes, lp: PatternLp, lower: int, best: int, settings: SolverSettings, deadline: float
) -> Step:
    """Step 4: the IP over the column-generation patterns (all types core) for ``best`` − 1 bins.

    Cheap (a few hundred patterns), so it runs first, within ``HEURISTIC_SHARE`` of the time left.
    """
    now = work.now()
    until = now + HEURISTIC_SHARE * (deadline - now)
    bins = pattern_ip.column_ip(types, lp.patterns, best - 1, settings, until)
    return Step(bins if bins is not None and len(bins) < best else None, lower)


def materialize(groups: tuple[pattern_ip.Group, ...], types: ItemTypes) -> list[Pattern]:
    """Bins from an IP answer: one per copy of each group, over-covered copies dropped, fill added.

    A group's fill items go first-fit (largest first) into that group's bins; whatever is still
    missing goes into the fullest bin with room, or into a new bin.
    """
    sizes, cap = types.column(0), types.capacity[0]
    loads = [[*g.pattern] for g in groups for _ in range(g.copies)]
    for t, d in enumerate(types.counts):
        surplus = max(0, sum(b[t] for b in loads) - d)
        for b in reversed(loads):
            take = min(surplus, b[t])
            b[t] -= take
            surplus -= take
    room = [cap - sum(a * w for a, w in zip(b, sizes, strict=True)) for b in loads]
    start = 0
    for g in groups:
        members = range(start, start + g.copies)
        start += g.copies
        for t in sorted(range(len(sizes)), key=lambda t: -sizes[t]):
            for _ in range(g.fill[t]):
                k = next((k for k in members if room[k] >= sizes[t]), None)
                if k is not None:
                    loads[k][t] += 1
                    room[k] -= sizes[t]
    for t, d in enumerate(types.counts):
        for _ in range(d - sum(b[t] for b in loads)):
            fits = [k for k, r in enumerate(room) if r >= sizes[t]]
            k = min(fits, key=lambda k: (room[k], k)) if fits else len(loads)
            if k == len(loads):
                loads.append([0] * len(sizes))
                room.append(cap)
            loads[k][t] += 1
            room[k] -= sizes[t]
    return [tuple(b) for b in loads if any(b)]
