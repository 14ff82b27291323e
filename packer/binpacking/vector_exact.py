r"""Exact steps of the vector engine: the pattern IP over generated columns, and fixed-bin CP-SAT.

Pattern IP (a heuristic over the columns column generation produced; SCIP, as ``pattern_ip``)
Sets and parameters
    T types, d[t] items of type t;  P the generated patterns, a[t, p] copies of t in p;  U the bins
    allowed (one fewer than the best packing)
Variables
    λ[p] ∈ 0..U        bins packed with pattern p
Objective
    minimize  Σ_p λ[p]
Constraints
    (1) Σ_p a[t, p]·λ[p] ≥ d[t]      ∀ t     every item covered (copies beyond d[t] are dropped)
    (2) Σ_p λ[p] ≤ U                          fewer bins than the best packing

Fixed bins (CP-SAT; INFEASIBLE proves K + 1 a lower bound, any solution meets the bound K)
Sets and parameters
    I items, largest first;  B = 0..K−1;  w[i, r], C[r]
Variables
    x[i, b] ∈ {0, 1}   item i goes into bin b
Constraints
    (3) Σ_b x[i, b] = 1               ∀ i           every item in one bin
    (4) Σ_i w[i, r]·x[i, b] ≤ C[r]    ∀ b, r        capacity
    (5) x[i, b] = 0                   ∀ b > i       bin b named after its largest item (symmetry)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from packer import cpsat
from packer.binpacking.packing import numbered_by_first_use
from packer.binpacking.vector_types import Pattern, VectorTypes
from packer.settings import SolverSettings

# Above this many items the fixed-bin model is too large to settle anything within seconds.
FIXED_BINS_MAX_ITEMS = 120


def pattern_ip(
    types: VectorTypes, patterns: tuple[Pattern, ...], bins: int, settings: SolverSettings, deadline: float
) -> list[Pattern] | None:
    """Bins of a packing into at most ``bins`` bins from ``patterns``, or None (none found in time)."""
    seconds = deadline - time.perf_counter()
    if seconds <= 0 or bins <= 0:
        return None
    solver = pywraplp.Solver.CreateSolver("SCIP")
    # lam[p] = bins packed with pattern p
    lam = [solver.IntVar(0, bins, f"lambda[{p}]") for p in range(len(patterns))]
    for t, d in enumerate(types.counts):
        # (1) every item covered
        solver.Add(solver.Sum([pattern[t] * lam[p] for p, pattern in enumerate(patterns) if pattern[t]]) >= d)
    # (2) fewer bins than the best packing
    solver.Add(solver.Sum(lam) <= bins)
    solver.Minimize(solver.Sum(lam))
    solver.SetTimeLimit(max(10, int(seconds * 1000)))
    solver.SetNumThreads(1)
    result = solver.Solve()
    if result not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        # INFEASIBLE (over these columns only: proves nothing), NOT_SOLVED (time), ABNORMAL
        return None
    chosen = [p for p, var in enumerate(lam) for _ in range(round(var.solution_value()))]
    return drop_surplus([patterns[p] for p in chosen], types.counts)


def drop_surplus(bins: list[Pattern], counts: tuple[int, ...]) -> list[Pattern]:
    """``bins`` covering each type at least ``counts`` times, extra copies removed (last bins first)."""
    loads = [list(b) for b in bins]
    for t, d in enumerate(counts):
        surplus = sum(b[t] for b in loads) - d
        for b in reversed(loads):
            take = min(surplus, b[t])
            b[t] -= take
            surplus -= take
    return [tuple(b) for b in loads if any(b)]


@dataclass(frozen=True)
class FixedBins:
    """Step outcome: a K-bin assignment (items in input order) or None, and the bound it proves."""

    assignment: list[int] | None
    lower: int


def fixed_bins(
    demands: list[list[int]],
    capacity: list[int],
    order: list[int],
    bins: int,
    settings: SolverSettings,
    seconds: float,
) -> FixedBins:
    """CP-SAT's search (3)–(5) for a packing into K = ``bins`` bins; ``order`` lists items largest first."""
    model = cp_model.CpModel()
    n = len(order)
    # x[i, b] = 1 if the item ranked i goes into bin b; (5) only bins up to i exist.
    x = {(i, b): model.new_bool_var(f"x[{i},{b}]") for i in range(n) for b in range(min(i + 1, bins))}
    for i in range(n):
        # (3) every item in one bin
        model.add_exactly_one(x[i, b] for b in range(min(i + 1, bins)))
    for b in range(bins):
        for r, cap in enumerate(capacity):
            # (4) capacity
            model.add(sum(demands[order[i]][r] * x[i, b] for i in range(b, n)) <= cap)
    solver = cpsat.run(model, settings, seconds)
    status = solver.status_name()
    if status == "MODEL_INVALID":
        raise ValueError("CP-SAT rejected the fixed-bin model as invalid")
    if status == "INFEASIBLE":
        return FixedBins(None, bins + 1)
    if status not in ("OPTIMAL", "FEASIBLE"):
        return FixedBins(None, bins)  # UNKNOWN: the time ran out
    assignment = [-1] * n
    for (i, b), var in x.items():
        if solver.boolean_value(var):
            assignment[order[i]] = b
    return FixedBins(numbered_by_first_use(assignment), bins)
