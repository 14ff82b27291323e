r"""Gilmore–Gomory column generation: the pattern LP bound for one-resource bin packing.

Sets
    T            item types (equal sizes aggregated), P the patterns generated so far
Parameters
    w[t] > 0     size of type t, integer; d[t] ≥ 1 how many items of type t
    C > 0        bin capacity
    a[t, p] ≥ 0  copies of type t in pattern p, with Σ_t w[t]·a[t, p] ≤ C
Variables
    λ[p] ≥ 0     bins packed with pattern p (continuous: this is the LP relaxation)
Objective
    minimize  Σ_p λ[p]
Constraints
    (1) Σ_p a[t, p]·λ[p] ≥ d[t]                ∀ t          every item covered
Pricing (a bounded knapsack, solved exactly by dynamic programming over capacities)
    (2) max Σ_t π[t]·a[t]  s.t.  Σ_t w[t]·a[t] ≤ C,  0 ≤ a[t] ≤ min(d[t], ⌊C / w[t]⌋)
        with π ≥ 0 the duals of (1); a pattern worth more than 1 enters P.
Bound
    (3) any π ≥ 0 gives Σ_t d[t]·π[t] / V(π) ≤ z_LP ≤ OPT, with V(π) ≥ 1 the pricing optimum
        (scaling π by 1/V(π) makes it dual feasible). At convergence V = 1 and the bound is z_LP;
        ⌈bound⌉ is a lower bound on the number of bins, the strongest known for these instances.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

# A pattern improves the LP only if it is worth more than 1 + this (float noise in the duals).
_PRICE_TOLERANCE = 1e-7
# The bound is rounded up after removing this much: GLOP's duals carry ~1e-9 relative error.
_BOUND_TOLERANCE = 1e-6

Pattern = tuple[int, ...]


@dataclass(frozen=True)
class PatternLp:
    """The LP's outcome: a proven bound, the patterns generated, the last LP's values and duals.

    ``duals`` are scaled to be dual feasible (no pattern worth more than 1), so ``dual_value``
    (Σ d·π) is a valid bound and ``1 − Σ_t π[t]·a[t]`` each pattern's reduced cost (≥ 0).
    """

    bound: int
    value: float
    patterns: tuple[Pattern, ...]
    usage: tuple[float, ...]
    duals: tuple[float, ...]
    dual_value: float
    converged: bool


def price(sizes: list[int], limits: list[int], duals: list[float], capacity: int) -> tuple[float, Pattern]:
    """(2) The most valuable pattern under ``duals``: its value and copies per type.

    Types with a zero dual are left out (they add nothing); each type's copies are split into
    chunks 1, 2, 4, ... so the bounded knapsack becomes a 0-1 knapsack over the chunks.
    """
    chunks: list[tuple[int, int]] = []
    for t, (limit, pi) in enumerate(zip(limits, duals, strict=True)):
        k, left = 1, limit
        while left > 0 and pi > 0:
            take = min(k, left)
            chunks.append((t, take))
            left -= take
            k *= 2
    best = np.zeros(capacity + 1)
    taken = np.zeros((len(chunks), capacity + 1), dtype=bool)
    for c, (t, take) in enumerate(chunks):
        weight, value = sizes[t] * take, duals[t] * take
        if weight > capacity:
            continue
        candidate = best[:-weight] + value if weight else best + value
        better = candidate > best[weight:] + 1e-12
        taken[c, weight:] = better
        best[weight:] = np.where(better, candidate, best[weight:])
    pattern = [0] * len(sizes)
    room = int(np.argmax(best))
    value = float(best[room])
    for c in range(len(chunks) - 1, -1, -1):
        if taken[c, room]:
            t, take = chunks[c]
            pattern[t] += take
            room -= sizes[t] * take
    return value, tuple(pattern)


def solve_pattern_lp(
    sizes: list[int],
    counts: list[int],
    capacity: int,
    initial: list[Pattern],
    target: int,
    deadline: float,
) -> PatternLp:
    """Column generation from ``initial`` patterns until no pattern prices out or ``deadline``.

    Stops early once the bound reaches ``target`` (a known solution's bin count: nothing to gain).
    """
    limits = [min(d, capacity // w) for w, d in zip(sizes, counts, strict=True)]
    solver = pywraplp.Solver.CreateSolver("GLOP")
    # (1) every item covered
    rows = [solver.Constraint(float(d), solver.infinity()) for d in counts]
    objective = solver.Objective()
    objective.SetMinimization()
    patterns: list[Pattern] = []
    # λ[p] = bins packed with pattern p
    columns: list[pywraplp.Variable] = []

    def add(pattern: Pattern) -> None:
        var = solver.NumVar(0.0, solver.infinity(), f"lambda[{len(columns)}]")
        objective.SetCoefficient(var, 1.0)
        for t, a in enumerate(pattern):
            if a:
                rows[t].SetCoefficient(var, float(a))
        patterns.append(pattern)
        columns.append(var)

    for pattern in dict.fromkeys(initial):
        add(pattern)
    bound, value, converged = 0, math.inf, False
    feasible, dual_value = [0.0] * len(sizes), 0.0
    while True:
        if solver.Solve() != pywraplp.Solver.OPTIMAL:
            break
        value = objective.Value()
        duals = [max(0.0, row.dual_value()) for row in rows]
        best, pattern = price(sizes, limits, duals, capacity)
        dual_total = sum(d * pi for d, pi in zip(counts, duals, strict=True))
        # (3) the bound from the current duals, scaled to dual feasibility
        scaled = dual_total / max(best, 1.0)
        if scaled > dual_value:
            feasible, dual_value = [pi / max(best, 1.0) for pi in duals], scaled
        bound = max(bound, math.ceil(scaled - _BOUND_TOLERANCE))
        if best <= 1 + _PRICE_TOLERANCE:
            converged = True
            break
        if bound >= target or time.perf_counter() > deadline:
            break
        add(pattern)
    usage = tuple(var.solution_value() for var in columns)
    return PatternLp(
        bound=bound,
        value=value,
        patterns=tuple(patterns),
        usage=usage,
        duals=tuple(feasible),
        dual_value=dual_value,
        converged=converged,
    )
