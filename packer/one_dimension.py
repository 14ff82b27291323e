r"""Exact one-resource bin packing (the min-gpus objective): bounds, patterns, then a pattern IP.

Items of equal size are one type with a count d[t] (many replicas of one model cost nothing
extra); sizes and capacity are divided by their common divisor. The steps, each skipped once the
best packing meets the best bound:

    1. upper bound: first-fit and best-fit decreasing (``fit``; FFD's count is reported), and
       minimum bin slack (``slack``).
    2. lower bound: Martello–Toth L2 (``bounds``).
    3. lower bound: the Gilmore–Gomory pattern LP by column generation (``patterns``), ⌈z_LP⌉.
       Nearly every instance in the literature has its optimum at ⌈z_LP⌉ (the IRUP property).
    3'. a heuristic: diving on the pattern LP (``diving``) for a packing into ⌈z_LP⌉ bins, which
       finds the optimum of most IRUP instances within a second.
    4'. a heuristic: bin elimination (``elimination``), a local search emptying one bin at a time.
    4. a heuristic: the IP over the column-generation patterns, for one bin fewer than the best.
    5. K = the lower bound: enumerate every pattern whose reduced cost allows it in a K-bin
       packing and solve the pattern IP (``pattern_ip``, with SCIP). A K-bin packing proves the
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

from packer import fixed_bins, pattern_ip
from packer.bounds import l2_bound
from packer.diving import dive
from packer.elimination import eliminate
from packer.fit import best_fit, decreasing, first_fit
from packer.outcome import PackingOutcome
from packer.patterns import ColumnGeneration, Pattern, PatternLp
from packer.problem import SolverSettings
from packer.slack import minimum_slack

# Above this many enumerated patterns the IP is no longer quick to solve, and the depth-first
# enumeration itself takes about a second in CPython.
PATTERN_LIMIT = 20_000
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
# Share of the time left the column-pattern heuristic may use before the exact step.
HEURISTIC_SHARE = 0.2
# Share of the time left the pattern enumeration may use, and how often it narrows the gap.
ENUMERATION_SHARE = 0.3
ENUMERATION_TRIES = 3
# Share of the time left the exact step's IP may use when step 6 is still to come.
EXACT_SHARE = 0.6


@dataclass(frozen=True)
class Types:
    """Items grouped by size: sizes largest first, counts, and the items (input indices) of each."""

    sizes: list[int]
    counts: list[int]
    members: list[list[int]]
    capacity: int

    @classmethod
    def of(cls, sizes: list[int], capacity: int) -> Types:
        """Group ``sizes`` (already divided by their common divisor with ``capacity``)."""
        members: dict[int, list[int]] = {}
        for i in decreasing(sizes):
            members.setdefault(sizes[i], []).append(i)
        return cls(list(members), [len(m) for m in members.values()], list(members.values()), capacity)

    def patterns(self, assignment: list[int]) -> list[Pattern]:
        """One pattern (copies per type) per bin of an item-level assignment."""
        type_of = {i: t for t, m in enumerate(self.members) for i in m}
        bins = [[0] * len(self.sizes) for _ in range(max(assignment) + 1)]
        for i, b in enumerate(assignment):
            bins[b][type_of[i]] += 1
        return [tuple(b) for b in bins]

    def assign(self, bins: list[Pattern]) -> list[int]:
        """Item-level assignment from bins of type copies: each type's items handed out in order."""
        left = [iter(m) for m in self.members]
        assignment = [-1] * sum(self.counts)
        for b, pattern in enumerate(bins):
            for t, copies in enumerate(pattern):
                for _ in range(copies):
                    assignment[next(left[t])] = b
        return assignment


def materialize(groups: tuple[pattern_ip.Group, ...], types: Types) -> list[Pattern]:
    """Bins from an IP answer: one per copy of each group, over-covered copies dropped, fill added.

    A group's fill items go first-fit (largest first) into that group's bins; whatever is still
    missing goes into the fullest bin with room, or into a new bin.
    """
    sizes, cap = types.sizes, types.capacity
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


def _exact_step(
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


def _heuristic_step(
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
    found = dive(model, types.counts, lower, now + share * (deadline - now))
    if len(found.best) < max(best) + 1:
        return types.assign(found.best), "FEASIBLE"
    return best, status


def _take(
    found: Step, types: Types, best: list[int], status: str, notes: list[str]
) -> tuple[list[int], str, int]:
    """What a step 4 or 5 learned, applied: the packing and status, and the bound (notes appended)."""
    if found.note:
        notes.append(found.note)
    if found.bins is not None:
        return types.assign(found.bins), "FEASIBLE", found.lower
    return best, status, found.lower


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
            found = _exact_step(types, lp, lower, max(best) + 1, settings, until, complete_only=True)
            best, status, lower = _take(found, types, best, status, notes)
        best, status = _dive_step(types, model, best, status, lower, deadline)
        best, status = _eliminate_step(sizes, cap, best, status, lower, settings, deadline)
        for step in (_heuristic_step, _exact_step):
            if max(best) + 1 == lower or time.perf_counter() >= deadline:
                break
            small = len(sizes) <= fixed_bins.MAX_ITEMS
            now = time.perf_counter()
            until = now + EXACT_SHARE * (deadline - now) if small else deadline
            found = step(types, lp, lower, max(best) + 1, settings, until)
            best, status, lower = _take(found, types, best, status, notes)
        if len(sizes) > fixed_bins.MAX_ITEMS:  # no step 6 to come: the time left goes to diving
            best, status = _dive_step(types, model, best, status, lower, deadline, share=1.0)
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
