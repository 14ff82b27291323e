r"""The pattern LP for vector bin packing, by column generation, and its lower bound.

Sets
    T            item types (``vector_types``); P the patterns generated so far
Parameters
    w[t, r]      integer size of type t in resource r;  C[r] capacity;  d[t] ≥ 0 items of type t
    a[t, p] ≥ 0  copies of type t in pattern p, with Σ_t w[t, r]·a[t, p] ≤ C[r] ∀ r
Variables
    λ[p] ≥ 0     bins packed with pattern p (continuous: the LP relaxation)
Objective
    minimize  z = Σ_p λ[p]
Constraints
    (1) Σ_p a[t, p]·λ[p] ≥ d[t]               ∀ t          every item covered
Pricing
    (2) V(π) = max Σ_t π[t]·a[t] over patterns a (``vector_pricing``), π ≥ 0 the duals of (1); a
        pattern worth more than 1 enters P. The heuristic runs first (from scratch and, at the root,
        from each pattern the LP uses); CP-SAT runs only when the heuristic finds nothing, and its
        proven upper bound B ≥ V(π) comes with every answer; every pattern CP-SAT met that is worth
        more than 1 enters P.
Bound
    (3) Farley: Σ_t d[t]·π[t] / max(1, B) ≤ z_LP ≤ OPT for any π ≥ 0 and B ≥ V(π) (π / B is dual
        feasible). When CP-SAT proves B ≤ 1, the LP is solved (converged) and (3) is z_LP itself;
        otherwise (3) is still valid: the bound never relies on an unfinished LP. ⌈(3)⌉ bounds the
        number of bins.
    (4) the restricted LP's value z_P ≥ z_LP: once ⌈z_P⌉ is no more than a bound already proven
        (L2), no later column can raise the bound; one exact pricing then gives (3) its duals (the
        dive prunes by their reduced costs) and column generation stops there (the time goes to the
        searches for a packing instead).
    (5) diving's node LPs (heuristic pricing only) stop once z_P shows the node's demand may fit in
        the bins left; more columns would only reshape a fractional solution the dive rounds anyway.
The model persists: ``solve`` may be called again with smaller demands d' ≤ d (diving), and every
pattern generated before stays a column.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from packer.binpacking.vector_pricing import Priced, exact_price, greedy_price
from packer.binpacking.vector_types import Pattern, VectorTypes
from packer.settings import SolverSettings

# A pattern improves the LP only if it is worth more than 1 + this (float noise in the duals).
PRICE_TOLERANCE = 1e-6
# The bound is rounded up after removing this much (GLOP's duals carry ~1e-9 relative error).
BOUND_TOLERANCE = 1e-6
# Seconds one exact pricing (CP-SAT knapsack) may take.
EXACT_PRICING_SECONDS = 1.0
# Patterns the LP uses above this much are starting points of the heuristic pricing.
BASIS_USAGE = 1e-6


@dataclass(frozen=True)
class VectorLp:
    """One solve's outcome: a proven bound (3), the LP's value, columns, their values, scaled duals.

    ``duals`` are dual feasible (scaled by 1 / max(1, B)), so ``dual_value`` = Σ d·π is a valid
    bound and 1 − π·a each pattern's reduced cost (≥ 0); both are zero before any exact pricing.
    """

    bound: int
    value: float
    patterns: tuple[Pattern, ...]
    usage: tuple[float, ...]
    duals: tuple[float, ...]
    dual_value: float
    converged: bool


class VectorColumnGeneration:
    """The LP (1) over a growing set of patterns, solved for any demands d' ≤ d (one GLOP model)."""

    def __init__(self, types: VectorTypes, initial: list[Pattern], settings: SolverSettings) -> None:
        self.types, self.settings = types, settings
        self._sizes = types.array()
        self._capacity = np.asarray(types.capacity, dtype=np.int64)
        self._solver = pywraplp.Solver.CreateSolver("GLOP")
        # (1) every item covered; right-hand sides set per call
        self._rows = [self._solver.Constraint(0.0, self._solver.infinity()) for _ in types.sizes]
        self._objective = self._solver.Objective()
        self._objective.SetMinimization()
        self.patterns: list[Pattern] = []
        # lambda[p] = bins packed with pattern p
        self._columns: list[pywraplp.Variable] = []
        self._known: set[Pattern] = set()
        for pattern in initial:
            self.add(pattern)

    def add(self, pattern: Pattern) -> bool:
        """A new column λ[p] for ``pattern``; False if it was already there."""
        if pattern in self._known or not any(pattern):
            return False
        self._known.add(pattern)
        var = self._solver.NumVar(0.0, self._solver.infinity(), f"lambda[{len(self._columns)}]")
        self._objective.SetCoefficient(var, 1.0)
        for t, a in enumerate(pattern):
            if a:
                self._rows[t].SetCoefficient(var, float(a))
        self.patterns.append(pattern)
        self._columns.append(var)
        return True

    def solve(
        self,
        demand: tuple[int, ...] | list[int],
        target: float,
        deadline: float,
        exact: bool = True,
        known: int = 0,
    ) -> VectorLp:
        """Generate columns for ``demand`` until none prices out, the bound reaches ``target``, or time.

        Without ``exact`` only the heuristic prices (diving's node LPs): no bound, never converged,
        and it stops once the LP's value is at most ``target`` − 1 (5).
        ``known``: a bound proven elsewhere; the search stops once (4) shows the LP cannot beat it.
        """
        for row, d in zip(self._rows, demand, strict=True):
            row.SetLb(float(d))
        d = np.asarray(demand, dtype=np.int64)
        limits = np.minimum(d, self._fit_limits())
        bound, value, converged, usage = 0, math.inf, False, ()
        feasible, dual_value = np.zeros(len(d)), 0.0
        while time.perf_counter() < deadline:
            if self._solver.Solve() != pywraplp.Solver.OPTIMAL:
                break  # (1) always has a solution with the initial patterns: a numerical failure
            value = self._objective.Value()
            usage = tuple(var.solution_value() for var in self._columns)
            if not exact and value < target - 1 + BOUND_TOLERANCE:
                break  # (5)
            # (4) the LP cannot raise the bound above ``known``: one exact pricing for (3)'s duals, then stop
            settled = exact and math.ceil(value - BOUND_TOLERANCE) <= known
            duals = np.array([max(0.0, row.dual_value()) for row in self._rows])
            # the patterns in use seed the heuristic too, at the root only: in diving's node LPs the
            # extra columns slow every re-solve more than they help
            basis = tuple(p for p, x in zip(self.patterns, usage, strict=True) if x > BASIS_USAGE)
            heuristic = greedy_price(self._sizes, limits, duals, self._capacity, basis=basis if exact else ())
            if not settled and self._add_improving(heuristic):
                continue
            if not exact:
                break
            seconds = min(EXACT_PRICING_SECONDS, deadline - time.perf_counter())
            priced = exact_price(
                self._sizes, limits, duals, self._capacity, heuristic[0].pattern, self.settings, seconds
            )
            if not priced:
                break
            scale = max(1.0, priced[0].upper)
            # (3) Farley's bound from these duals
            if float(d @ duals) / scale > dual_value:
                feasible, dual_value = duals / scale, float(d @ duals) / scale
                bound = max(bound, math.ceil(dual_value - BOUND_TOLERANCE))
            if settled:
                break
            if self._add_improving(priced):
                if bound >= target:
                    break
                continue
            converged = priced[0].upper <= 1 + PRICE_TOLERANCE
            break
        return VectorLp(
            bound=bound,
            value=value,
            patterns=tuple(self.patterns),
            usage=usage + (0.0,) * (len(self.patterns) - len(usage)),
            duals=tuple(float(pi) for pi in feasible),
            dual_value=dual_value,
            converged=converged,
        )

    def _add_improving(self, priced: list[Priced]) -> bool:
        """Add every pattern of ``priced`` worth more than 1 (all of them); True if one was new."""
        added = [p for p in priced if p.value > 1 + PRICE_TOLERANCE and self.add(p.pattern)]
        return bool(added)

    def _fit_limits(self) -> np.ndarray:
        """Most copies of each type one bin holds alone."""
        positive = np.where(self._sizes > 0, self._sizes, 1)
        most = np.where(self._sizes > 0, self._capacity // positive, np.iinfo(np.int64).max)
        return most.min(axis=1)
