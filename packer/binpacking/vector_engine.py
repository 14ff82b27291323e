r"""Exact-method vector bin packing (the throughput objective): bounds, patterns, diving, search.

Items have integer demands w[i, r] in resources r (GPU memory, GPU and memory-controller utilization)
and bins (GPUs) capacities C[r]. The steps, each skipped once the best packing meets the best bound:

    1. upper bound: first-fit decreasing (``ffd``; its count is reported) and the greedy rules of
       ``greedy`` (first fit, best fit, dot product), the others only while time is left.
    2. lower bound: Martello–Toth L2 per resource (``bounds``), at least 1.
    3. full bins (``vector_full_bins``): when some resource's total is exactly K = the bound times
       its capacity, a K-bin packing fills every bin in it; the hashing search finds such a
       partition (random exact fills: within seconds up to thousands of items). Found: optimal.
    4. local search (``vector_search``) for ``SEARCH_SHARE`` of the time left.
    5. lower bound: the pattern LP by column generation (``patterns``, priced by ``vector_pricing``:
       heuristic, then CP-SAT), ⌈Farley's bound⌉, which is ⌈z_LP⌉ when the LP converged; up to
       ``LP_MAX_TYPES`` item types. It stops early once the restricted LP's value shows it cannot
       raise the bound of step 2 (``vector_pricing`` step 3).
    6. diving on the pattern LP (``diving``, node LPs priced heuristically) for a packing into the bound.
    7. the pattern IP over the generated columns for one bin fewer than the best (``pattern_ip.column_ip``).
    8. up to ``fixed_bins.VECTOR_MAX_ITEMS`` items: CP-SAT's fixed-bin search for K = the bound
       (``fixed_bins.search``; INFEASIBLE raises the bound to K + 1).
    9. local search again, until the bound or the deadline: the whole budget is used.

Only the bin assignment comes back (``Packing``: bins numbered 0..k-1, the proven bound,
``proven`` when they meet, FFD's count); the planner's headroom stage works on it as on any plan.
Every packing is re-checked against the capacities before it is returned. Every step reads the
deadline (``settings.max_time_in_seconds`` of work from the call) and gets a share of the work left,
on the work clock (``packer.work``), so the same input takes the same steps on any machine load;
first-fit decreasing always runs (it is the fallback), so the caller always gets a packing.
"""

from __future__ import annotations

import math

import numpy as np

from packer import work
from packer.binpacking import fixed_bins, vector_full_bins, vector_search
from packer.binpacking.bounds import vector_lower_bound
from packer.binpacking.diving import dive
from packer.binpacking.ffd import decreasing_order, first_fit_decreasing
from packer.binpacking.greedy import greedy_packings, pack_residual
from packer.binpacking.item_types import ItemTypes
from packer.binpacking.packing import Packing
from packer.binpacking.pattern_ip import column_ip
from packer.binpacking.patterns import BOUND_TOLERANCE, ColumnGeneration
from packer.binpacking.vector_pricing import VectorPricing
from packer.settings import SolverSettings

# Shares of the work left: full-bin search, first local search, column generation, diving, pattern
# IP, fixed-bin search (the last local search takes whatever is left). On the 60–250-model benchmark
# every packing better than the greedy ones came from the first local search or the dive, so the
# dive gets most of what the column generation leaves.
FULL_SHARE = 0.8
SEARCH_SHARE = 0.15
LP_SHARE = 0.6
DIVE_SHARE = 0.9
PATTERN_IP_SHARE = 0.3
FIXED_BINS_SHARE = 0.3
# Above this many distinct item types the pattern LP (GLOP + pricing per column) is left out.
LP_MAX_TYPES = 400


class _Best:
    """The best packing so far (item assignment), its status, the bound and the notes."""

    def __init__(self, assignment: list[int], ffd: list[int], lower: int) -> None:
        self.assignment, self.lower, self.notes = assignment, lower, []
        self.status = "FFD" if assignment is ffd else "FEASIBLE"

    @property
    def count(self) -> int:
        return max(self.assignment) + 1

    def done(self, deadline: float) -> bool:
        return self.count <= self.lower or work.now() >= deadline

    def offer(self, assignment: list[int] | None) -> None:
        if assignment is not None and max(assignment) + 1 < self.count:
            self.assignment, self.status = assignment, "FEASIBLE"


def _left(deadline: float, share: float) -> float:
    now = work.now()
    return now + share * max(0.0, deadline - now)


def pack_vector_exact(demands: list[list[int]], capacity: list[int], settings: SolverSettings) -> Packing:
    """Pack integer ``demands`` into the fewest bins of ``capacity``; see the module docstring."""
    with work.until(settings.max_time_in_seconds, settings.deadline) as deadline:
        return _pack(demands, capacity, settings, deadline)


def _pack(
    demands: list[list[int]], capacity: list[int], settings: SolverSettings, deadline: float
) -> Packing:
    if not demands:
        return Packing(assignment=(), lower=0, proven=True, status="OPTIMAL", ffd_count=0)
    ffd = first_fit_decreasing(demands, capacity)
    # FFD's own packing first: kept on ties, so its status stays "FFD" when it meets the bound
    best = _Best(
        min([ffd, *greedy_packings(demands, capacity, deadline)], key=max),
        ffd,
        max(1, vector_lower_bound(demands, capacity)),
    )
    sizes, cap = np.asarray(demands, dtype=np.int64), np.asarray(capacity, dtype=np.int64)
    if not best.done(deadline):
        _full_bins_step(sizes, cap, best, deadline)
    if not best.done(deadline):
        best.offer(
            vector_search.improve(
                demands, capacity, best.assignment, best.lower, settings, _left(deadline, SEARCH_SHARE)
            )
        )
    if not best.done(deadline):
        _pattern_steps(demands, capacity, best, settings, deadline)
    if not best.done(deadline) and len(demands) <= fixed_bins.max_items(len(capacity)):
        order = decreasing_order(demands, capacity)
        found = fixed_bins.search(
            demands, capacity, order, best.lower, settings, _left(deadline, FIXED_BINS_SHARE)
        )
        best.lower = max(best.lower, found.lower)
        best.offer(found.assignment)
    if not best.done(deadline):
        best.offer(vector_search.improve(demands, capacity, best.assignment, best.lower, settings, deadline))
    _check(sizes, cap, best.assignment)
    proven = best.count <= best.lower
    return Packing(
        assignment=tuple(best.assignment),
        lower=min(best.lower, best.count),
        proven=proven,
        status="OPTIMAL" if proven and best.status != "FFD" else best.status,
        ffd_count=max(ffd) + 1,
        notes=() if proven else tuple(best.notes),
    )


def _full_bins_step(sizes: np.ndarray, cap: np.ndarray, best: _Best, deadline: float) -> None:
    """Step 3, when some resource is tight at the bound."""
    tight = vector_full_bins.tight_resources(sizes, cap, best.lower)
    if not tight:
        return
    if len(sizes) > vector_full_bins.MAX_ITEMS:
        best.notes.append(f"full-bin search skipped above {vector_full_bins.MAX_ITEMS} models")
        return
    found = vector_full_bins.search(sizes, cap, tight, _left(deadline, FULL_SHARE))
    bins = found.bins if found.bins is not None else found.partial
    assignment = [-1] * len(sizes)
    for b, items in enumerate(bins):
        for i in items:
            assignment[i] = b
    rest = [i for i, b in enumerate(assignment) if b < 0]
    if rest:  # a partial partition: the greedy rules pack the items left
        types = ItemTypes.of([list(sizes[i]) for i in rest], list(cap))
        for b, members in enumerate(_bins_of(types, pack_residual(types, types.counts)), start=len(bins)):
            for k in members:
                assignment[rest[k]] = b
    best.offer(assignment)


def _bins_of(types: ItemTypes, patterns: list) -> list[list[int]]:
    """Item indices (of ``types``' items) per bin of ``patterns``."""
    assignment = types.assign(patterns)
    bins: list[list[int]] = [[] for _ in patterns]
    for i, b in enumerate(assignment):
        bins[b].append(i)
    return bins


def _pattern_steps(
    demands: list[list[int]], capacity: list[int], best: _Best, settings: SolverSettings, deadline: float
) -> None:
    """Steps 5–7: the pattern LP bound, diving, and the pattern IP over the columns."""
    types = ItemTypes.of(demands, capacity)
    if len(types.sizes) > LP_MAX_TYPES:
        best.notes.append(f"pattern LP skipped above {LP_MAX_TYPES} distinct models")
        return
    initial = [p for a in greedy_packings(demands, capacity) for p in types.patterns(a)]
    model = ColumnGeneration(types, initial + types.patterns(best.assignment), VectorPricing(types, settings))
    lp = model.solve(types.counts, best.count, _left(deadline, LP_SHARE), known=best.lower)
    best.lower = max(best.lower, lp.bound)
    if best.count > best.lower and math.ceil(lp.value - BOUND_TOLERANCE) <= best.lower:
        best.notes.append("column generation stopped early: the pattern LP cannot raise the lower bound")
    elif not lp.converged and best.count > best.lower:
        best.notes.append("column generation stopped at the time limit before converging")
    if best.done(deadline):
        return
    found = dive(model, best.lower, _left(deadline, DIVE_SHARE), lp.duals)
    best.offer(types.assign(found.best) if found.best else None)
    if best.done(deadline):
        return
    until = _left(deadline, PATTERN_IP_SHARE)
    bins = column_ip(types, tuple(model.patterns), best.count - 1, settings, until)
    best.offer(types.assign(bins) if bins else None)


def _check(sizes: np.ndarray, cap: np.ndarray, assignment: list[int]) -> None:
    """Every item in a bin numbered 0..k-1 and every bin within capacity; a failure is a bug."""
    count = max(assignment) + 1
    loads = np.zeros((count, len(cap)), dtype=np.int64)
    np.add.at(loads, np.asarray(assignment), sizes)
    if min(assignment) < 0 or np.any(loads > cap) or len(set(assignment)) != count:
        raise ValueError("the vector engine produced an infeasible packing")
