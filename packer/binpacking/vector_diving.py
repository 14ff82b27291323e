r"""Diving on the vector pattern LP: a K-bin packing by fixing the patterns the LP uses.

Residual rounding with limited discrepancy search (as the one-resource ``diving``). A node is the
demand r[t] still to pack plus the bins fixed so far (F of them); at a node:

    1. the greedy rules pack r (``vector_types.pack_residual``): F + greedy(r) ≤ K ends the search;
    2. F + L2(r) > K fails the node (L2 per resource, ``bounds``); else the pattern LP is re-solved
       for r with heuristic pricing (``VectorColumnGeneration``, one warm model for the whole dive),
       which stops as soon as the LP's value is at most K − F (its (5): pricing on would only cost
       time, ~7 LP solves a node, for a fractional solution that is rounded anyway; 2–3× faster
       dives on 200–250 models);
    3. children, best first: if some λ[p] ≥ 1, the first child fixes ⌊λ[p]⌋ copies of each such
       pattern; then one child per fractional λ[p], largest first, fixing one copy. A copy takes the
       pattern's items where demand is left (copies beyond it are dropped; the bin stays feasible).

A child is skipped when its bins cannot be part of a K-bin packing by reduced costs: with π the root's
dual-feasible duals, bin b costs 1 − π·b ≥ 0 and the bins of a K-bin packing cost K − π·d in all.
Child k costs k discrepancies, only ``WIDTH`` children are tried; passes allow D = 0, 1, 2, ...
discrepancies until a packing or the deadline. The root always yields a complete packing (step 1
runs before the clock is read), so the caller gets one even when out of time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from packer.binpacking.bounds import vector_lower_bound
from packer.binpacking.vector_patterns import VectorColumnGeneration
from packer.binpacking.vector_types import Pattern, pack_residual

# Children tried per node.
WIDTH = 3
# λ values within this of an integer count as that integer.
_TOLERANCE = 1e-6


class _OutOfTime(Exception):
    pass


@dataclass(frozen=True)
class Dive:
    """The outcome: ``bins`` in at most K bins (None if none found), and the best packing seen."""

    bins: list[Pattern] | None
    best: list[Pattern]


def dive(lp: VectorColumnGeneration, target: int, deadline: float, duals: tuple[float, ...]) -> Dive:
    """Search for a packing of every item into ``target`` bins; see the module docstring."""
    counts = lp.types.counts
    slack = target - sum(d * pi for d, pi in zip(counts, duals, strict=True))
    search = _Search(lp, target, deadline, duals, slack)
    try:
        for discrepancies in range(len(counts) * WIDTH + 1):
            found = search.node(tuple(counts), [], discrepancies, 0.0)
            if found is not None:
                return Dive(found, found)
    except _OutOfTime:
        pass
    return Dive(None, search.best)


class _Search:
    def __init__(
        self, lp: VectorColumnGeneration, target: int, deadline: float, duals: tuple[float, ...], slack: float
    ) -> None:
        self.lp, self.target, self.deadline = lp, target, deadline
        self.duals, self.slack = duals, slack
        self.failed: dict[tuple[int, ...], tuple[int, int]] = {}
        self.best: list[Pattern] = []

    def node(
        self, demand: tuple[int, ...], fixed: list[Pattern], left: int, spent: float
    ) -> list[Pattern] | None:
        # 1. the greedy rules for what is left (before the clock: the root always yields a packing)
        completed = fixed + pack_residual(self.lp.types, demand)
        if not self.best or len(completed) < len(self.best):
            self.best = completed
        if len(completed) <= self.target:
            return completed
        if time.perf_counter() > self.deadline:
            raise _OutOfTime
        seen = self.failed.get(demand)
        if seen is not None and len(fixed) >= seen[0] and left <= seen[1]:
            return None
        # 2. the residual's bound, then its LP
        room = self.target - len(fixed)
        items = [list(size) for size, d in zip(self.lp.types.sizes, demand, strict=True) for _ in range(d)]
        if vector_lower_bound(items, self.lp.types.capacity) > room:
            self.failed[demand] = (len(fixed), math.inf)
            return None
        solution = self.lp.solve(demand, room + 1, self.deadline, exact=False)
        # 3. children, best first
        k = -1
        for bins in _children(demand, solution.patterns, solution.usage):
            cost = spent + sum(1 - sum(a * pi for a, pi in zip(b, self.duals, strict=True)) for b in bins)
            if cost > self.slack + _TOLERANCE:
                continue
            k += 1
            if k > left:
                break
            rest = demand
            for pattern in bins:
                rest = tuple(r - a for r, a in zip(rest, pattern, strict=True))
            found = self.node(rest, fixed + bins, left - k, cost)
            if found is not None:
                return found
        self.failed[demand] = (len(fixed), left)
        return None


def _children(
    demand: tuple[int, ...], patterns: tuple[Pattern, ...], usage: tuple[float, ...]
) -> list[list[Pattern]]:
    """Step 3: the bins each of the first ``WIDTH`` children fixes, best first."""
    used = sorted(
        ((x, p) for x, p in zip(usage, patterns, strict=True) if x > _TOLERANCE), key=lambda xp: -xp[0]
    )
    children: list[list[Pattern]] = []
    rest, whole = demand, []
    for x, pattern in used:
        for _ in range(math.floor(x + _TOLERANCE)):
            copy = tuple(min(r, a) for r, a in zip(rest, pattern, strict=True))
            if any(copy):
                whole.append(copy)
                rest = tuple(r - c for r, c in zip(rest, copy, strict=True))
    if whole:
        children.append(whole)
    for x, pattern in used:
        if len(children) == WIDTH:
            break
        if x < 1 - _TOLERANCE:
            copy = tuple(min(r, a) for r, a in zip(demand, pattern, strict=True))
            if any(copy):
                children.append([copy])
    return children
