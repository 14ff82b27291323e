r"""Exact one-resource bin packing (the min-gpus objective): bounds, patterns, then a pattern IP.

Items of equal size are one type with a count d[t] (``item_types``; many replicas of one model
cost nothing extra); sizes and capacity are divided by their common divisor. The steps, each
skipped once the best packing meets the best bound, in this order: 1, 2, 3, (5 first when ⌈z_LP⌉
is within ``EARLY_EXACT_GAP`` of z_LP), 3', 4', 4, 5, 6, then 3' again with any time left:

    1. upper bound: first-fit and best-fit decreasing (``fit``; FFD's count is reported), and
       minimum bin slack (``slack``).
    2. lower bound: Martello–Toth L2 (``bounds``).
    3. lower bound: the Gilmore–Gomory pattern LP by column generation (``patterns``), ⌈z_LP⌉.
       Nearly every instance in the literature has its optimum at ⌈z_LP⌉ (the IRUP property).
    3'. a heuristic: diving on the pattern LP (``diving``) for a packing into ⌈z_LP⌉ bins, which
       finds the optimum of most IRUP instances within a second.
    4'. a heuristic: bin elimination (``elimination``), a local search emptying one bin at a time.
    4. a heuristic: the IP over the column-generation patterns, for one bin fewer than the best
       (``pattern_steps``).
    5. K = the lower bound: enumerate every pattern whose reduced cost allows it in a K-bin
       packing and solve the pattern IP (``pattern_steps``, with SCIP). A K-bin packing proves the
       optimum; INFEASIBLE over a complete enumeration proves K + 1 a lower bound. Too many
       patterns: the IP over those of smallest reduced cost, as a heuristic.
    6. up to ``fixed_bins.MAX_ITEMS`` items: CP-SAT's x[i, b] search for a K-bin packing, with the
       time left (INFEASIBLE there also proves K + 1).

When the tables of steps 3-5 (distinct sizes × capacity cells) would be too large, as with
thousands of models measured in 0.01 MB, steps 3-5 run on a coarse grid instead
(``_coarse_steps``): a valid bound from the sizes rounded down, a valid packing from the sizes
rounded up; then step 4' on the true sizes.

The result keeps the planner's contract: every item in a bin, the bound proven, ``proven`` only
when the count meets the bound, and the best packing found (FFD's at worst) when time runs out.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

from packer import fixed_bins
from packer.bounds import l2_bound
from packer.diving import dive
from packer.elimination import eliminate
from packer.fit import best_fit, decreasing, first_fit
from packer.item_types import Types
from packer.outcome import PackingOutcome
from packer.pattern_steps import exact_step, heuristic_step, take
from packer.patterns import ColumnGeneration
from packer.problem import SolverSettings
from packer.slack import minimum_slack

# Dynamic programs over capacities (MBS', pricing) cost types × capacity cells per bin or column;
# above this (e.g. thousands of distinct model sizes in 0.01 MB units) only steps 1–2 run.
DP_CELL_LIMIT = 20_000_000
# Share of the time limit column generation may use; the rest goes to the pattern IPs.
LP_SHARE = 0.4
# Grid (capacity units) of the pattern steps for sizes too many and fine for the exact tables, and
# the shares of the time left its rounded-down LP and its rounded-up packing may use.
COARSE_UNITS = 5_000
COARSE_LP_SHARE = 0.3
COARSE_PACK_SHARE = 0.8
# Below this gap between the bound and the LP's value, step 5 runs first (before 3'), with this
# share of the time left: non-IRUP instances are proven there within a second or two.
EARLY_EXACT_GAP = 0.01
EARLY_EXACT_SHARE = 0.5
# Share of the time left diving (step 3') may use.
DIVE_SHARE = 0.4
# Share of the time left bin elimination (step 4') may use.
ELIMINATION_SHARE = 0.3
# Share of the time left the exact step's IP may use when step 6 is still to come.
EXACT_SHARE = 0.6


@dataclass(frozen=True)
class FixedBinsStep:
    """What step 6 learned: an item-level packing into K bins, and/or a higher bound."""

    bins: list[int] | None
    lower: int


def _fixed_bins_step(
    sizes: list[int], capacity: int, order: list[int], lower: int, settings: SolverSettings, deadline: float
) -> FixedBinsStep:
    """Step 6: CP-SAT's x[i, b] search for a packing into K = ``lower`` bins."""
    model, x = fixed_bins.build_model([sizes[i] for i in order], capacity, lower)
    solver = fixed_bins.solve(model, settings, deadline - time.perf_counter())
    status, sorted_bins = fixed_bins.extract(solver, x, len(order))
    if status == "INFEASIBLE":
        return FixedBinsStep(None, lower + 1)
    if sorted_bins is None:
        return FixedBinsStep(None, lower)
    renumber = {b: k for k, b in enumerate(dict.fromkeys(sorted_bins))}
    assignment = [-1] * len(sizes)
    for rank, i in enumerate(order):
        assignment[i] = renumber[sorted_bins[rank]]
    return FixedBinsStep(assignment, lower)


def _eliminate_step(
    sizes: list[int],
    cap: int,
    best: list[int],
    status: str,
    lower: int,
    settings: SolverSettings,
    deadline: float,
) -> tuple[list[int], str]:
    """Step 4': bin elimination (``elimination``) within ``ELIMINATION_SHARE`` of the time left."""
    now = time.perf_counter()
    if max(best) + 1 <= lower or now >= deadline:
        return best, status
    found = eliminate(
        sizes, cap, best, lower, now + ELIMINATION_SHARE * (deadline - now), settings.random_seed
    )
    return (found, "FEASIBLE") if max(found) < max(best) else (best, status)


def _dive_step(
    types: Types,
    model: ColumnGeneration,
    duals: tuple[float, ...],
    best: list[int],
    status: str,
    lower: int,
    deadline: float,
    share: float = DIVE_SHARE,
) -> tuple[list[int], str]:
    """Step 3': diving (``diving``) for a packing into ``lower`` bins.

    Within ``share`` of the time left; the best packing it completes on the way counts too.
    """
    now = time.perf_counter()
    if max(best) + 1 <= lower or now >= deadline:
        return best, status
    found = dive(model, types.counts, lower, now + share * (deadline - now), duals)
    if len(found.best) < max(best) + 1:
        return types.assign(found.best), "FEASIBLE"
    return best, status


def coarse_units(items: int) -> int:
    """Grid size for ``_coarse_steps``: at most ``COARSE_UNITS``, and tables within the cell limit."""
    return min(COARSE_UNITS, DP_CELL_LIMIT // min(items, COARSE_UNITS))


def _coarse_steps(
    sizes: list[int],
    cap: int,
    units: int,
    best: list[int],
    status: str,
    lower: int,
    settings: SolverSettings,
    deadline: float,
) -> tuple[list[int], str, int]:
    """Steps 3-5 on a grid of about ``units`` units, where the exact tables would be too large.

    With u = ⌈C / units⌉ and room ⌊C / u⌋:

    - lower bound: the pattern LP of the sizes rounded down, ⌊w / u⌋. A bin of any packing still
      fits after rounding down (Σ ⌊w / u⌋ ≤ ⌊Σ w / u⌋ ≤ ⌊C / u⌋), so the bound holds for the sizes.
    - packing: this whole engine on the sizes rounded up, ⌈w / u⌉ (within the cell limit by the
      choice of ``units``); each of its bins holds Σ w ≤ u · Σ ⌈w / u⌉ ≤ u · ⌊C / u⌋ ≤ C.
    """
    unit = math.ceil(cap / units)
    room = cap // unit
    down = [s // unit for s in sizes if s >= unit]
    now = time.perf_counter()
    if down:
        types = Types.of(down, room)
        initial = types.patterns(first_fit(down, room, decreasing(down)))
        lp = ColumnGeneration(types.sizes, room, initial).solve(
            types.counts, max(best) + 1, now + COARSE_LP_SHARE * (deadline - now)
        )
        lower = max(lower, lp.bound)
    now = time.perf_counter()
    if max(best) + 1 > lower and now < deadline:
        seconds = COARSE_PACK_SHARE * (deadline - now)
        up = pack_one_dimension(
            [-(-s // unit) for s in sizes], room, dataclasses.replace(settings, max_time_in_seconds=seconds)
        )
        if up.count < max(best) + 1:
            best, status = list(up.assignment), "FEASIBLE"
    return best, status, lower


def pack_one_dimension(demands: list[int], capacity: int, settings: SolverSettings) -> PackingOutcome:
    """Pack integer ``demands`` into the fewest bins of ``capacity``; see the module docstring."""
    started = time.perf_counter()
    deadline = started + settings.max_time_in_seconds
    divisor = math.gcd(capacity, *demands)
    sizes, cap = [d // divisor for d in demands], capacity // divisor
    order = decreasing(sizes)
    ffd, bfd = first_fit(sizes, cap, order), best_fit(sizes, cap, order)
    best, status, notes = min((ffd, bfd), key=max), "FFD", []
    lower = max(1, l2_bound(sizes, cap))
    types = Types.of(sizes, cap)
    patterns_fit = len(types.sizes) * cap <= DP_CELL_LIMIT
    if not patterns_fit:
        units = coarse_units(len(sizes))
        notes.append(f"too many distinct sizes for exact pattern steps: steps 3-5 on a grid of {units} units")
        best, status, lower = _coarse_steps(sizes, cap, units, best, status, lower, settings, deadline)
        best, status = _eliminate_step(sizes, cap, best, status, lower, settings, deadline)
    elif max(best) + 1 > lower:
        slack = types.assign(minimum_slack(types.sizes, types.counts, cap))
        if max(slack) < max(best):
            best, status = slack, "FEASIBLE"
    if max(best) + 1 > lower and patterns_fit:
        lp_deadline = started + LP_SHARE * settings.max_time_in_seconds
        model = ColumnGeneration(types.sizes, cap, types.patterns(ffd) + types.patterns(bfd))
        lp = model.solve(types.counts, max(best) + 1, lp_deadline)
        lower = max(lower, lp.bound)
        # A bound just above the LP leaves few patterns: step 5 is quick and settles it either way.
        if lower - lp.dual_value < EARLY_EXACT_GAP and max(best) + 1 > lower:
            now = time.perf_counter()
            until = now + EARLY_EXACT_SHARE * (deadline - now)
            found = exact_step(types, lp, lower, max(best) + 1, settings, until, complete_only=True)
            best, status, lower = take(found, types, best, status, notes)
        best, status = _dive_step(types, model, lp.duals, best, status, lower, deadline)
        best, status = _eliminate_step(sizes, cap, best, status, lower, settings, deadline)
        for step in (heuristic_step, exact_step):
            if max(best) + 1 == lower or time.perf_counter() >= deadline:
                break
            small = len(sizes) <= fixed_bins.MAX_ITEMS
            now = time.perf_counter()
            until = now + EXACT_SHARE * (deadline - now) if small else deadline
            found = step(types, lp, lower, max(best) + 1, settings, until)
            best, status, lower = take(found, types, best, status, notes)
        if len(sizes) > fixed_bins.MAX_ITEMS:  # no step 6 to come: the time left goes to diving
            best, status = _dive_step(types, model, lp.duals, best, status, lower, deadline, share=1.0)
        if not lp.converged and max(best) + 1 > lower:
            notes.append("column generation stopped at the time limit before converging")
    if max(best) + 1 > lower and len(sizes) <= fixed_bins.MAX_ITEMS and time.perf_counter() < deadline:
        found = _fixed_bins_step(sizes, cap, order, lower, settings, deadline)
        lower = found.lower
        if found.bins is not None:
            best, status = found.bins, "FEASIBLE"
    proven = max(best) + 1 == lower
    return PackingOutcome(
        assignment=tuple(best),
        lower=lower,
        proven=proven,
        status="OPTIMAL" if proven else status,
        ffd_count=max(ffd) + 1,
        notes=tuple(notes) if not proven else (),
    )
