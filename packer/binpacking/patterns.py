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
Speed-ups that leave z_LP unchanged
    (4) dual-optimal inequalities π[t] ≥ π[t+1] (types largest first; some optimal dual has them,
        since a larger item can always take a smaller one's place): in the primal, exchange
        columns of cost 0 with −1 on row t and +1 on row t + 1. They damp the duals' oscillation.
    (5) Wentges smoothing: price at α·π̂ + (1 − α)·π, π̂ the duals of the best bound (3) so far;
        when that pattern does not improve the LP (a mispricing), α moves towards 0, and only a
        pattern found at α = 0 that is worth at most 1 ends the generation.
The model persists (``ColumnGeneration``): it can be re-solved for smaller demands d' ≤ d with
every pattern generated so far (``diving`` solves a residual problem at each node).
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
# Weight of the best duals so far in the pricing point (0: plain column generation).
SMOOTHING = 0.8

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
        candidate = best[:-weight] + value
        better = np.greater(candidate, best[weight:], out=taken[c, weight:])
        np.maximum(best[weight:], candidate, out=best[weight:], where=better)
    pattern = [0] * len(sizes)
    room = int(np.argmax(best))
    value = float(best[room])
    for c in range(len(chunks) - 1, -1, -1):
        if taken[c, room]:
            t, take = chunks[c]
            pattern[t] += take
            room -= sizes[t] * take
    return value, tuple(pattern)


class ColumnGeneration:
    """The pattern LP (1) over a growing set of patterns, solved for any demands d' ≤ d.

    One GLOP model lives across calls: a call sets the rows' right-hand sides to the demands and
    generates columns until none prices out, so a sequence of residual problems (``diving``)
    reuses every pattern found before. A pattern covering more copies of a type than the demand
    left is still a valid column of the covering LP (the extra copies are dropped).
    """

    def __init__(self, sizes: list[int], capacity: int, initial: list[Pattern]) -> None:
        self.sizes, self.capacity = sizes, capacity
        self._solver = pywraplp.Solver.CreateSolver("GLOP")
        # (1) every item covered; right-hand sides set per call
        self._rows = [self._solver.Constraint(0.0, self._solver.infinity()) for _ in sizes]
        self._objective = self._solver.Objective()
        self._objective.SetMinimization()
        self.patterns: list[Pattern] = []
        # λ[p] = bins packed with pattern p
        self._columns: list[pywraplp.Variable] = []
        self._known: set[Pattern] = set()
        # (4) exchange columns: an item of type t stands in for one of type t + 1
        for t in range(len(sizes) - 1):
            exchange = self._solver.NumVar(0.0, self._solver.infinity(), f"exchange[{t}]")
            self._rows[t].SetCoefficient(exchange, -1.0)
            self._rows[t + 1].SetCoefficient(exchange, 1.0)
        for pattern in initial:
            self.add(pattern)

    def add(self, pattern: Pattern) -> None:
        """A new column λ[p] for ``pattern`` (a pattern already present is ignored)."""
        if pattern in self._known:
            return
        self._known.add(pattern)
        var = self._solver.NumVar(0.0, self._solver.infinity(), f"lambda[{len(self._columns)}]")
        self._objective.SetCoefficient(var, 1.0)
        for t, a in enumerate(pattern):
            if a:
                self._rows[t].SetCoefficient(var, float(a))
        self.patterns.append(pattern)
        self._columns.append(var)

    def solve(self, demands: list[int] | tuple[int, ...], target: float, deadline: float) -> PatternLp:
        """Column generation for ``demands`` until no pattern prices out or ``deadline``.

        Stops early once the bound reaches ``target`` (a known solution's bin count: nothing to gain).
        """
        sizes, capacity = self.sizes, self.capacity
        for row, d in zip(self._rows, demands, strict=True):
            row.SetLb(float(d))
        limits = [min(d, capacity // w) for w, d in zip(sizes, demands, strict=True)]
        bound, value, converged = 0, math.inf, False
        feasible, dual_value = [0.0] * len(sizes), 0.0
        while True:
            if self._solver.Solve() != pywraplp.Solver.OPTIMAL or time.perf_counter() > deadline:
                break
            value = self._objective.Value()
            duals = [max(0.0, row.dual_value()) for row in self._rows]
            # (5) price at a point between the best duals so far and the LP's
            weight = SMOOTHING if dual_value > 0 else 0.0
            while True:
                point = [weight * c + (1 - weight) * o for c, o in zip(feasible, duals, strict=True)]
                best, pattern = price(sizes, limits, point, capacity)
                # (3) the bound from these duals, scaled to dual feasibility
                scaled = sum(d * pi for d, pi in zip(demands, point, strict=True)) / max(best, 1.0)
                if scaled > dual_value:
                    feasible, dual_value = [pi / max(best, 1.0) for pi in point], scaled
                    bound = max(bound, math.ceil(scaled - _BOUND_TOLERANCE))
                improves = sum(a * pi for a, pi in zip(pattern, duals, strict=True)) > 1 + _PRICE_TOLERANCE
                if improves or weight == 0:
                    break
                weight = max(0.0, weight - 0.5)
            if not improves:
                converged = True
                break
            if bound >= target:
                break
            self.add(pattern)
        return PatternLp(
            bound=bound,
            value=value,
            patterns=tuple(self.patterns),
            usage=tuple(var.solution_value() for var in self._columns),
            duals=tuple(feasible),
            dual_value=dual_value,
            converged=converged,
        )


def solve_pattern_lp(
    sizes: list[int],
    counts: list[int],
    capacity: int,
    initial: list[Pattern],
    target: float,
    deadline: float,
) -> PatternLp:
    """Column generation from ``initial`` patterns for the full demands ``counts``."""
    return ColumnGeneration(sizes, capacity, initial).solve(counts, target, deadline)
