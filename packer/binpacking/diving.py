r"""Diving on the pattern LP: a K-bin packing by fixing the patterns the LP uses (both engines).

Residual rounding with limited discrepancy search. A node is the demand r[t] still to pack plus
the bins fixed so far (F of them); at a node:

    1. the greedy rules pack r (``greedy.pack_residual``): F + greedy(r) ≤ K is a K-bin packing
       (the search ends);
    2. F + L2(r) > K fails the node (L2 per resource, ``bounds``); then the pattern LP is re-solved
       for r (``patterns.ColumnGeneration``: one warm model for the whole dive, every pattern
       generated before stays), in one of two ways, the engine's choice (``exact``):
       (a) exact: to convergence; F + ⌈z_LP(r)⌉ > K fails the node (one resource: the knapsack
           pricing is cheap, and the bound prunes);
       (b) heuristic pricing only, stopped as soon as z_P ≤ K − F (``patterns`` (5)): pricing on
           would only cost time for a fractional solution that is rounded anyway (several
           resources: ~7 LP solves a node saved, 2–3× faster dives on 200–250 models);
    3. children, best first: if some λ[p] ≥ 1, the first child fixes ⌊λ[p]⌋ copies of each such
       pattern at once; then one child per fractional λ[p], largest first, fixing one copy of p.
       A fixed copy takes p's items where demand is left (``_copy``); with one resource, a copy of
       a type with none left takes an item of the next smaller type that has some, as the LP's
       exchange columns (``patterns`` (4)) do; with several, it is dropped (the bin stays feasible).

A child is skipped when it cannot be part of a K-bin packing by reduced costs: with π the root's
dual-feasible duals, every bin b costs ρ(b) = 1 − π·b ≥ 0, and the bins of any K-bin packing cost
at most K − π·d in all (summing ρ over them); so the bins fixed on a path may cost no more.

Child k (among those kept) costs k discrepancies; only the first ``WIDTH`` children are tried.
Pass D allows D discrepancies along a path; passes run D = 0, 1, 2, ... until a packing is found
or the deadline. A failed node is remembered by its r with F and the discrepancies it had left: a
later node with the same r, no fewer bins fixed and no more discrepancies left fails too (for a
node failed by a bound, any number left). The root always yields a complete packing (step 1 runs
before the clock is read), so the caller gets one even when out of time. Nearly every instance in
the literature has its optimum at ⌈z_LP⌉; for those, pass 0 or 1 usually reaches it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from packer import work
from packer.binpacking.bounds import vector_lower_bound
from packer.binpacking.greedy import pack_residual
from packer.binpacking.item_types import Pattern
from packer.binpacking.patterns import ColumnGeneration

# Children tried per node.
WIDTH = 3
# Work per node besides its LP and greedy packings (charged by them): the children's copies and
# reduced costs, per (type, column) cell (CPython; measured on the reference host: Hard28 BPP195's
# dive, ~140 types and 500-700 columns, spent 0.25 s outside its LPs where 5e-8 a cell charged 1.1).
NODE_S = 1e-4
NODE_S_PER_CELL = 1.2e-8
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
    lp: ColumnGeneration, target: int, deadline: float, duals: tuple[float, ...], exact: bool = False
) -> Dive:
    """Search for a packing of every item of ``lp.types`` into ``target`` bins (module docstring).

    ``deadline``: on the work clock (``packer.work``). ``duals`` are dual feasible for the full
    demand (``PatternLp.duals``), for the reduced-cost rule; ``exact`` picks step 2 (a) over (b).
    """
    counts = lp.types.counts
    slack = target - sum(d * pi for d, pi in zip(counts, duals, strict=True))
    search = _Search(lp, target, deadline, duals, slack, exact)
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
        self,
        lp: ColumnGeneration,
        target: int,
        deadline: float,
        duals: tuple[float, ...],
        slack: float,
        exact: bool,
    ) -> None:
        self.lp, self.target, self.deadline = lp, target, deadline
        self.duals, self.slack, self.exact = duals, slack, exact
        self.failed: dict[tuple[int, ...], tuple[int, float]] = {}
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
        if work.now() > self.deadline:
            raise _OutOfTime
        work.spend(NODE_S + NODE_S_PER_CELL * len(demand) * len(self.lp.patterns))
        seen = self.failed.get(demand)
        if seen is not None and len(fixed) >= seen[0] and left <= seen[1]:
            return None
        # 2. the residual's bounds, and its LP
        room = self.target - len(fixed)
        if self._bounded_out(demand, room):
            self.failed[demand] = (len(fixed), math.inf)
            return None
        if self.exact:  # (a)
            solution = self.lp.solve(demand, room + 1, self.deadline)
            if solution.bound > room:
                self.failed[demand] = (len(fixed), math.inf)
                return None
            if not solution.converged:
                raise _OutOfTime
        else:  # (b)
            solution = self.lp.solve(demand, room + 1, self.deadline, exact=False, stop_at=room)
        # 3. children, best first
        k = -1
        for bins in _children(demand, solution.patterns, solution.usage, self.lp.exchange):
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

    def _bounded_out(self, demand: tuple[int, ...], room: int) -> bool:
        """Step 2's L2 test: True when the items left need more than ``room`` bins."""
        items = [size for size, d in zip(self.lp.types.sizes, demand, strict=True) for _ in range(d)]
        return vector_lower_bound(items, self.lp.types.capacity) > room


def _children(
    demand: tuple[int, ...], patterns: tuple[Pattern, ...], usage: tuple[float, ...], substitute: bool
) -> list[list[Pattern]]:
    """Step 3: the bins each of the first ``WIDTH`` children fixes, best first."""
    used = sorted(
        ((x, p) for x, p in zip(usage, patterns, strict=True) if x > _TOLERANCE), key=lambda xp: -xp[0]
    )
    children: list[list[Pattern]] = []
    rest, whole = demand, []
    for x, pattern in used:
        for _ in range(math.floor(x + _TOLERANCE)):
            copy = _copy(rest, pattern, substitute)
            if any(copy):
                whole.append(copy)
                rest = tuple(r - c for r, c in zip(rest, copy, strict=True))
    if whole:
        children.append(whole)
    for x, pattern in used:
        if len(children) == WIDTH:
            break
        if x < 1 - _TOLERANCE:
            copy = _copy(demand, pattern, substitute)
            if any(copy):
                children.append([copy])
    return children


def _copy(demand: tuple[int, ...], pattern: Pattern, substitute: bool) -> Pattern:
    """One bin of ``pattern`` within ``demand`` (step 3).

    ``substitute`` (one resource): a copy of a type with no demand left takes an item of the next
    smaller type that has some (the substitution the exchange columns make in the LP).
    """
    copy, spare = [], 0
    for r, a in zip(demand, pattern, strict=True):
        take = min(r, a + spare)
        spare = spare + a - take if substitute else 0
        copy.append(take)
    return tuple(copy)
