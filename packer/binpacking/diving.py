r"""Diving on the pattern LP: a K-bin packing by fixing the patterns the LP uses (one resource).

Residual rounding with limited discrepancy search. A node is the demand r[t] still to pack plus
the bins fixed so far (F of them); at a node:

    1. best-fit decreasing packs r: F + BFD(r) ≤ K is a K-bin packing (the search ends);
    2. the pattern LP is solved for r (``patterns.ColumnGeneration``: one warm model for the whole
       dive, every pattern generated before stays); F + ⌈z_LP(r)⌉ > K fails the node;
    3. children, best first: if some λ[p] ≥ 1, the first child fixes ⌊λ[p]⌋ copies of each such
       pattern at once; then one child per fractional λ[p], largest first, fixing one copy of p.
       A fixed copy takes p's items where demand is left; a copy of a type with none left takes
       an item of the next smaller type that has some, as the LP's exchange columns do (``_copy``).

A child is skipped when it cannot be part of a K-bin packing by reduced costs: with π the root's
dual-feasible duals, every bin b costs ρ(b) = 1 − π·b ≥ 0, and the bins of any K-bin packing cost
at most K − π·d in all (summing ρ over them); so the bins fixed on a path may cost no more.

Child k (among those kept) costs k discrepancies; only the first ``WIDTH`` children are tried.
Pass D allows D discrepancies along a path; passes run D = 0, 1, 2, ... until a packing is found
or the deadline. A failed node is remembered by its r with F and the discrepancies it had left: a
later node with the same r, no fewer bins fixed and no more discrepancies left fails too (for a
node failed by the LP bound, any number left). Nearly every instance in the literature has its
optimum at ⌈z_LP⌉; for those, pass 0 or 1 usually reaches it, which the pattern IP alone rarely does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from packer.binpacking.fit import best_fit
from packer.binpacking.patterns import ColumnGeneration, Pattern

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


def dive(
    lp: ColumnGeneration, counts: list[int], target: int, deadline: float, duals: tuple[float, ...]
) -> Dive:
    """Search for a packing of ``counts`` into ``target`` bins; see the module docstring.

    ``duals`` are dual feasible for ``counts`` (``PatternLp.duals``), for the reduced-cost rule.
    """
    slack = target - sum(d * pi for d, pi in zip(counts, duals, strict=True))
    search = _Search(lp, target, deadline, duals, slack)
    demand = tuple(counts)
    try:
        for discrepancies in range(len(counts) * WIDTH + 1):
            found = search.node(demand, [], discrepancies, 0.0)
            if found is not None:
                return Dive(found, found)
    except _OutOfTime:
        pass
    return Dive(None, search.best)


class _Search:
    def __init__(
        self, lp: ColumnGeneration, target: int, deadline: float, duals: tuple[float, ...], slack: float
    ) -> None:
        self.lp, self.target, self.deadline = lp, target, deadline
        self.duals, self.slack = duals, slack
        self.failed: dict[tuple[int, ...], tuple[int, float]] = {}
        self.best: list[Pattern] = []

    def node(
        self, demand: tuple[int, ...], fixed: list[Pattern], left: int, spent: float
    ) -> list[Pattern] | None:
        # 1. best fit for what is left (before the clock: the root always yields a packing)
        completed = fixed + self._best_fit(demand)
        if not self.best or len(completed) < len(self.best):
            self.best = completed
        if len(completed) <= self.target:
            return completed
        if time.perf_counter() > self.deadline:
            raise _OutOfTime
        seen = self.failed.get(demand)
        if seen is not None and len(fixed) >= seen[0] and left <= seen[1]:
            return None
        # 2. the LP bound for what is left
        room = self.target - len(fixed)
        solution = self.lp.solve(demand, room + 1, self.deadline)
        if solution.bound > room:
            self.failed[demand] = (len(fixed), math.inf)
            return None
        if not solution.converged:
            raise _OutOfTime
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
                rest = tuple(max(0, r - a) for r, a in zip(rest, pattern, strict=True))
            found = self.node(rest, fixed + bins, left - k, cost)
            if found is not None:
                return found
        self.failed[demand] = (len(fixed), left)
        return None

    def _best_fit(self, demand: tuple[int, ...]) -> list[Pattern]:
        """BFD's bins for ``demand`` (types are largest first, so items come out decreasing)."""
        items = [t for t, d in enumerate(demand) for _ in range(d)]
        if not items:
            return []
        sizes = self.lp.sizes
        assignment = best_fit([sizes[t] for t in items], self.lp.capacity, list(range(len(items))))
        bins = [[0] * len(demand) for _ in range(max(assignment) + 1)]
        for t, b in zip(items, assignment, strict=True):
            bins[b][t] += 1
        return [tuple(b) for b in bins]


def _children(
    demand: tuple[int, ...], patterns: tuple[Pattern, ...], usage: tuple[float, ...]
) -> list[list[Pattern]]:
    """Step 3: the bins each of the first ``WIDTH`` children fixes, best first."""
    used = sorted(
        ((x, p) for x, p in zip(usage, patterns, strict=True) if x > _TOLERANCE), key=lambda xp: -xp[0]
    )
    children: list[list[Pattern]] = []
    whole = [(x, p) for x, p in used if x >= 1 - _TOLERANCE]
    if whole:
        rest, bins = demand, []
        for x, pattern in whole:
            for _ in range(math.floor(x + _TOLERANCE)):
                copy = _copy(rest, pattern)
                if any(copy):
                    bins.append(copy)
                    rest = tuple(r - c for r, c in zip(rest, copy, strict=True))
        if bins:
            children.append(bins)
    for x, pattern in used:
        if len(children) == WIDTH:
            break
        if x < 1 - _TOLERANCE:
            copy = _copy(demand, pattern)
            if any(copy):
                children.append([copy])
    return children


def _copy(demand: tuple[int, ...], pattern: Pattern) -> Pattern:
    """One bin of ``pattern`` within ``demand``.

    A copy of a type with no demand left takes an item of the next smaller type that has some
    (the substitution the exchange columns make in the LP).
    """
    copy, spare = [], 0
    for r, a in zip(demand, pattern, strict=True):
        take = min(r, a + spare)
        spare += a - take
        copy.append(take)
    return tuple(copy)
