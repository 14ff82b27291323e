"""Steps 4 and 5 of the one-resource engine (``one_dimension``): pattern IPs on SCIP.

Step 4 solves the IP over the column-generation patterns for one bin fewer than the best packing
(a heuristic). Step 5 enumerates every pattern whose reduced cost allows it in a K-bin packing and
solves the IP over them (``pattern_ip``): a K-bin packing proves the optimum, INFEASIBLE over a
complete enumeration proves K + 1 a lower bound.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from packer.binpacking import pattern_ip
from packer.binpacking.item_types import Types, materialize
from packer.binpacking.patterns import Pattern, PatternLp
from packer.settings import SolverSettings

# Above this many enumerated patterns the IP is no longer quick to solve, and the depth-first
# enumeration itself takes about a second in CPython.
PATTERN_LIMIT = 20_000
# Share of the time left the column-pattern heuristic may use before the exact step.
HEURISTIC_SHARE = 0.2
# Share of the time left the pattern enumeration may use, and how often it narrows the gap.
ENUMERATION_SHARE = 0.3
ENUMERATION_TRIES = 3


def _enumerate(
    types: Types, duals: tuple[float, ...], gap: float, deadline: float, tries: int = ENUMERATION_TRIES
) -> pattern_ip.Enumeration:
    """All patterns within ``gap``; if too many, those within gap/4, gap/16 (then incomplete)."""
    threshold = gap
    for _ in range(tries):
        found = pattern_ip.enumerate_patterns(
            types.sizes, types.counts, types.capacity, duals, threshold, PATTERN_LIMIT, deadline
        )
        if found.complete:
            full = threshold == gap
            return dataclasses.replace(found, complete=full, exact=full)
        if time.perf_counter() >= deadline:
            break
        threshold /= 4
    return dataclasses.replace(found, patterns=())


def _run_ip(
    types: Types, enumeration: pattern_ip.Enumeration, bins: int, settings: SolverSettings, deadline: float
) -> tuple[str, list[Pattern] | None]:
    """Solve the pattern IP for ``bins``: its status, and the bins if it found a packing."""
    model, variables = pattern_ip.build_model(types.sizes, types.counts, types.capacity, enumeration, bins)
    result = pattern_ip.solve(model, settings, deadline - time.perf_counter())
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
    types: Types,
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
    now = time.perf_counter()
    tries = 1 if complete_only else ENUMERATION_TRIES
    enumeration = _enumerate(types, lp.duals, gap, now + ENUMERATION_SHARE * (deadline - now), tries)
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
    types: Types, lp: PatternLp, lower: int, best: int, settings: SolverSettings, deadline: float
) -> Step:
    """Step 4: the IP over the column-generation patterns (all types core) for ``best`` − 1 bins.

    Cheap (a few hundred patterns), so it runs first, within ``HEURISTIC_SHARE`` of the time left.
    """
    columns = pattern_ip.Enumeration(
        lp.patterns, tuple(True for _ in types.sizes), complete=False, exact=False
    )
    now = time.perf_counter()
    _, bins = _run_ip(types, columns, best - 1, settings, now + HEURISTIC_SHARE * (deadline - now))
    return Step(bins if bins is not None and len(bins) < best else None, lower)
