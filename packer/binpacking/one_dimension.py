r"""Exact one-resource bin packing (the min-gpus objective): bounds, patterns, then a pattern IP.

Items of equal size are one type with a count d[t] (``item_types``, the vector grouping with one
resource; many replicas of one model cost nothing extra); sizes and capacity are divided by their
common divisor. The steps, each
skipped once the best packing meets the best bound, in this order: 1, 2, 3, (5 first when ⌈z_LP⌉
is within ``EARLY_EXACT_GAP`` of z_LP), 3', 4', 4, 5, 6, then 3' again with any work left:

    1. upper bound: first-fit and best-fit decreasing (``fit``; FFD's count is reported), and
       minimum bin slack (``slack``).
    2. lower bound: Martello–Toth L2 (``bounds``).
    3. lower bound: the Gilmore–Gomory pattern LP by column generation (``patterns``, priced by
       the exact knapsack of ``knapsack_pricing``), ⌈z_LP⌉. Nearly every instance in the
       literature has its optimum at ⌈z_LP⌉ (the IRUP property).
    3'. a heuristic: diving on the pattern LP (``diving``, node LPs solved exactly) for a packing
       into ⌈z_LP⌉ bins, which finds the optimum of most IRUP instances within a second.
    4'. a heuristic: bin elimination (``elimination``), a local search emptying one bin at a time.
    4. a heuristic: the IP over the column-generation patterns, for one bin fewer than the best
       (``pattern_steps``).
    5. K = the lower bound: enumerate every pattern whose reduced cost allows it in a K-bin
       packing and solve the pattern IP (``pattern_steps``, with SCIP). A K-bin packing proves the
       optimum; INFEASIBLE over a complete enumeration proves K + 1 a lower bound. Too many
       patterns: the IP over those of smallest reduced cost, as a heuristic.
    6. up to ``fixed_bins.MAX_ITEMS`` items: CP-SAT's x[i, b] search for a K-bin packing
       (``fixed_bins.search``), with the work left (INFEASIBLE there also proves K + 1).

When the tables of steps 3-5 (distinct sizes × capacity cells) would be too large, as with
thousands of models measured in 0.01 MB, steps 3-5 run on a coarse grid instead
(``_coarse_steps``): a valid bound from the sizes rounded down, a valid packing from the sizes
rounded up; then step 4' on the true sizes.

The result keeps the planner's contract: every item in a bin, the bound proven, ``proven`` only
when the count meets the bound, and the best packing found (FFD's at worst) when time runs out.
Every step reads the deadline on the work clock (``packer.work``: ``settings.max_time_in_seconds``
units from the call): steps 1–2 always run (they are the fallback), each later one only with work left.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from packer import work
from packer.binpacking import fixed_bins
from packer.binpacking.bounds import l2_bound
from packer.binpacking.diving import dive
from packer.binpacking.elimination import eliminate
from packer.binpacking.fit import best_fit, decreasing, first_fit
from packer.binpacking.greedy import pack_residual
from packer.binpacking.item_types import ItemTypes
from packer.binpacking.knapsack_pricing import KnapsackPricing
from packer.binpacking.packing import Packing
from packer.binpacking.pattern_steps import Step, exact_step, heuristic_step
from packer.binpacking.patterns import ColumnGeneration
from packer.binpacking.slack import minimum_slack
from packer.progress import report
from packer.settings import SearchProgress, SolverSettings

# Dynamic programs over capacities (MBS', pricing) cost types × capacity cells per bin or column;
# above this (e.g. thousands of distinct model sizes in 0.01 MB units) only steps 1–2 run.
DP_CELL_LIMIT = 20_000_000
# Share of the work budget column generation may use; the rest goes to the pattern IPs. Most LPs
# converge far sooner; Scholl 3's (capacity 100,000: 15 ms a pricing) take ~4.6 units, and without
# the LP's bound the steps after it prove nothing there.
LP_SHARE = 0.6
# Grid (capacity units) of the pattern steps for sizes too many and fine for the exact tables, and
# the shares of the work left its rounded-down LP and its rounded-up packing may use.
COARSE_UNITS = 5_000
COARSE_LP_SHARE = 0.3
COARSE_PACK_SHARE = 0.8
# The coarse steps each start with greedy packings of every item (the LP's first columns, the rounded-up
# engine's steps 1-2): they run only with this many times what those took at the top still left.
GREEDY_MARGIN = 2.0
# Below this gap between the bound and the LP's value, step 5 runs first (before 3'), with this
# share of the work left: non-IRUP instances are proven there within a second or two.
EARLY_EXACT_GAP = 0.01
EARLY_EXACT_SHARE = 0.5
# Share of the work left MBS' (step 1) may use: at 10,000 models of 800 sizes it would take ~20 s.
SLACK_SHARE = 0.3
# Share of the work left diving (step 3') may use.
DIVE_SHARE = 0.4
# Share of the work left bin elimination (step 4') may use.
ELIMINATION_SHARE = 0.3
# Share of the work left the exact step's IP may use when step 6 is still to come.
EXACT_SHARE = 0.6


@dataclass(frozen=True)
class _Job:
    """What every step reads: sizes (divided by their common divisor), capacity, types, the clock."""

    sizes: list[int]
    cap: int
    types: ItemTypes
    settings: SolverSettings
    deadline: float
    # work first fit and best fit took on all the items: what a step that repeats them costs
    greedy_work: float = 0.0

    def affords(self, until: float) -> bool:
        """True when the work to ``until`` leaves room for ``GREEDY_MARGIN`` × the greedy packings."""
        return until - work.now() > GREEDY_MARGIN * self.greedy_work

    def column_generation(self, types: ItemTypes, initial: list) -> ColumnGeneration:
        """The pattern LP of ``types`` (one resource) with its exact knapsack pricing."""
        return ColumnGeneration(types, initial, KnapsackPricing(types.column(0), types.capacity[0]))

    def until(self, share: float) -> float:
        """The moment ``share`` of the work left from now has been spent."""
        now = work.now()
        return now + share * (self.deadline - now)

    @property
    def out_of_time(self) -> bool:
        """True once the deadline has passed."""
        return work.now() >= self.deadline


@dataclass(frozen=True)
class _Best:
    """The best packing so far (bin per item), how it was found, the best bound, and notes."""

    bins: list[int]
    status: str
    lower: int
    notes: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """Bins the best packing uses."""
        return max(self.bins) + 1

    @property
    def open(self) -> bool:
        """True while the best packing is above the bound (the search is not done)."""
        return self.count > self.lower

    def offer(self, bins: list[int] | None, lower: int | None = None, note: str | None = None) -> _Best:
        """Keep ``bins`` if it uses fewer bins, raise the bound to ``lower``, append ``note``."""
        better = bins is not None and max(bins) < max(self.bins)
        return _Best(
            bins if better else self.bins,
            "FEASIBLE" if better else self.status,
            max(self.lower, lower or 0),
            self.notes + ((note,) if note else ()),
        )

    def took(self, found: Step, types: ItemTypes) -> _Best:
        """What a step 4 or 5 learned, applied."""
        bins = types.assign(found.bins) if found.bins is not None else None
        return self.offer(bins, found.lower, found.note)


def _fixed_bins_step(job: _Job, best: _Best) -> _Best:
    """Step 6: CP-SAT's x[i, b] search for a packing into K = the bound (INFEASIBLE proves K + 1)."""
    demands = [(w,) for w in job.sizes]
    order = decreasing(job.sizes)
    found = fixed_bins.search(demands, (job.cap,), order, best.lower, job.settings, job.deadline)
    return best.offer(found.assignment, found.lower)


def _minimum_slack(job: _Job) -> list[int]:
    """Step 1's MBS' within ``SLACK_SHARE`` of the work left; best fit packs what it left."""
    bins = minimum_slack(job.types.column(0), list(job.types.counts), job.cap, job.until(SLACK_SHARE))
    left = [d - sum(b[t] for b in bins) for t, d in enumerate(job.types.counts)]
    return job.types.assign(bins + pack_residual(job.types, left, ("best",)))


def _eliminate_step(job: _Job, best: _Best) -> _Best:
    """Step 4': bin elimination (``elimination``) within ``ELIMINATION_SHARE`` of the work left."""
    if not best.open or job.out_of_time:
        return best
    until = job.until(ELIMINATION_SHARE)
    return best.offer(eliminate(job.sizes, job.cap, best.bins, best.lower, until, job.settings.random_seed))


def _dive_step(
    job: _Job, best: _Best, model: ColumnGeneration, duals: tuple[float, ...], share: float = DIVE_SHARE
) -> _Best:
    """Step 3': diving (``diving``) for a packing into the bound's bins.

    Within ``share`` of the work left; the best packing it completes on the way counts too.
    """
    if not best.open or job.out_of_time:
        return best
    found = dive(model, best.lower, job.until(share), duals, exact=True)
    return best.offer(job.types.assign(found.best) if len(found.best) < best.count else None)


def coarse_units(items: int) -> int:
    """Grid size for ``_coarse_steps``: at most ``COARSE_UNITS``, and tables within the cell limit."""
    return min(COARSE_UNITS, DP_CELL_LIMIT // min(items, COARSE_UNITS))


def _coarse_steps(job: _Job, best: _Best, units: int) -> _Best:
    """Steps 3-5 on a grid of about ``units`` units, where the exact tables would be too large.

    With u = ⌈C / units⌉ and room ⌊C / u⌋:

    - lower bound: the pattern LP of the sizes rounded down, ⌊w / u⌋. A bin of any packing still
      fits after rounding down (Σ ⌊w / u⌋ ≤ ⌊Σ w / u⌋ ≤ ⌊C / u⌋), so the bound holds for the sizes.
    - packing: this whole engine on the sizes rounded up, ⌈w / u⌉ (within the cell limit by the
      choice of ``units``); each of its bins holds Σ w ≤ u · Σ ⌈w / u⌉ ≤ u · ⌊C / u⌋ ≤ C.
    """
    unit = math.ceil(job.cap / units)
    room = job.cap // unit
    down = [s // unit for s in job.sizes if s >= unit]
    if down and job.affords(job.until(COARSE_LP_SHARE)):
        types = ItemTypes.of_sizes(down, room)
        initial = types.patterns(first_fit(down, room, decreasing(down)))
        lp = job.column_generation(types, initial).solve(types.counts, best.count, job.until(COARSE_LP_SHARE))
        best = best.offer(None, lp.bound)
    if best.open and job.affords(job.until(COARSE_PACK_SHARE)):
        up = pack_one_dimension(
            [-(-s // unit) for s in job.sizes],
            room,
            dataclasses.replace(job.settings, max_time_in_seconds=job.until(COARSE_PACK_SHARE) - work.now()),
        )
        best = best.offer(list(up.assignment))
    return best


def _pattern_steps(job: _Job, best: _Best, ffd: list[int], bfd: list[int], started: float) -> _Best:
    """Steps 3, (5 early), 3', 4', 4, 5, and 3' again with the work left when step 6 won't run."""
    types = job.types
    lp_deadline = started + LP_SHARE * (job.deadline - started)
    model = job.column_generation(types, types.patterns(ffd) + types.patterns(bfd))
    lp = model.solve(types.counts, best.count, lp_deadline)
    best = best.offer(None, lp.bound)
    # A bound just above the LP leaves few patterns: step 5 is quick and settles it either way.
    if best.lower - lp.dual_value < EARLY_EXACT_GAP and best.open:
        found = exact_step(
            types, lp, best.lower, best.count, job.settings, job.until(EARLY_EXACT_SHARE), complete_only=True
        )
        best = best.took(found, types)
    best = _dive_step(job, best, model, lp.duals)
    best = _eliminate_step(job, best)
    small = len(job.sizes) <= fixed_bins.MAX_ITEMS
    for step in (heuristic_step, exact_step):
        if not best.open or job.out_of_time:
            break
        until = job.until(EXACT_SHARE) if small else job.deadline
        best = best.took(step(types, lp, best.lower, best.count, job.settings, until), types)
    if not small:  # no step 6 to come: the work left goes to diving
        best = _dive_step(job, best, model, lp.duals, share=1.0)
    if not lp.converged and best.open:
        best = best.offer(None, note="column generation stopped at the time limit before converging")
    return best


def pack_one_dimension(demands: list[int], capacity: int, settings: SolverSettings) -> Packing:
    """Pack integer ``demands`` into the fewest bins of ``capacity``; see the module docstring."""
    with work.until(settings.max_time_in_seconds, settings.deadline) as deadline:
        return _pack(demands, capacity, settings, deadline)


def _pack(demands: list[int], capacity: int, settings: SolverSettings, deadline: float) -> Packing:
    started = work.now()
    divisor = math.gcd(capacity, *demands)
    sizes, cap = [d // divisor for d in demands], capacity // divisor
    types = ItemTypes.of_sizes(sizes, cap)
    order = decreasing(sizes)
    ffd, bfd = first_fit(sizes, cap, order), best_fit(sizes, cap, order)
    job = _Job(sizes, cap, types, settings, deadline, work.now() - started)
    # Steps 1 and 2.
    best = _Best(min((ffd, bfd), key=max), "FFD", max(1, l2_bound(sizes, cap)))
    patterns_fit = len(types.sizes) * cap <= DP_CELL_LIMIT
    if not patterns_fit:
        units = coarse_units(len(sizes))
        best = best.offer(
            None,
            note=f"too many distinct sizes for exact pattern steps: steps 3-5 on a grid of {units} units",
        )
        best = _eliminate_step(job, _coarse_steps(job, best, units))
    elif best.open:
        best = best.offer(_minimum_slack(job))
    if best.open:
        report(settings, SearchProgress("fewest GPUs, bin packing", best.count, best.lower, "GPUs"))
    if best.open and patterns_fit:
        best = _pattern_steps(job, best, ffd, bfd, started)
    if best.open and len(sizes) <= fixed_bins.max_items(1) and not job.out_of_time:
        best = _fixed_bins_step(job, best)
    proven = not best.open
    return Packing(
        assignment=tuple(best.bins),
        lower=best.lower,
        proven=proven,
        # FFD when the first-fit (or best-fit) packing itself met the bound: no search was needed.
        status="OPTIMAL" if proven and best.status != "FFD" else best.status,
        ffd_count=max(ffd) + 1,
        notes=best.notes if not proven else (),
    )
