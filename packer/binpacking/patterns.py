r"""The pattern LP by column generation, with a pluggable pricing step: one LP for both engines.

Sets
    T            item types (``item_types``, largest first);  R resources;  P the patterns so far
Parameters
    w[t, r]      integer size of type t in resource r;  C[r] capacity;  d[t] ≥ 0 items of type t
    a[t, p] ≥ 0  copies of type t in pattern p, with Σ_t w[t, r]·a[t, p] ≤ C[r] ∀ r
Variables
    λ[p] ≥ 0     bins packed with pattern p (continuous: the LP relaxation)
Objective
    minimize  z = Σ_p λ[p]
Constraints
    (1) Σ_p a[t, p]·λ[p] ≥ d[t]               ∀ t          every item covered
Pricing (the pluggable step; the engines differ only here)
    (2) V(π) = max Σ_t π[t]·a[t] over patterns a with a[t] ≤ u[t] = min(d[t], copies a bin holds),
        π ≥ 0 the duals of (1); a pattern worth more than 1 enters P. One resource: a bounded
        knapsack solved exactly by dynamic programming (``knapsack_pricing``); several: a greedy
        heuristic, then CP-SAT (``vector_pricing``). A step may also prove B ≥ V(π') at a point π'.
Bound
    (3) Farley: Σ_t d[t]·π'[t] / max(1, B) ≤ z_LP ≤ OPT for any π' ≥ 0 and B ≥ V(π') (π' / B is
        dual feasible). When no pattern is worth more than 1 + tolerance at the LP's own duals, the
        LP is solved (converged) and (3) is z_LP itself; otherwise (3) is still valid: the bound
        never relies on an unfinished LP. ⌈(3)⌉ bounds the number of bins.
    (4) one resource only: dual-optimal inequalities π[t] ≥ π[t+1] (some optimal dual has them, since
        a larger item can always take a smaller one's place), in the primal exchange columns of cost
        0 with −1 on row t and +1 on row t + 1. They damp the duals' oscillation; z_LP is unchanged.
    (5) diving's node LPs may stop once z_P ≤ ``stop_at`` (the bins left): more columns would only
        reshape a fractional solution the dive rounds anyway.
The model persists (``ColumnGeneration``): ``solve`` may be called again with smaller demands
d' ≤ d (diving), and every pattern generated before stays a column. A pattern covering more copies
of a type than the demand left is still a valid column of the covering LP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from ortools.linear_solver import pywraplp

from packer import work
from packer.binpacking.item_types import ItemTypes, Pattern

# The bound is rounded up after removing this much: GLOP's duals carry ~1e-9 relative error.
BOUND_TOLERANCE = 1e-6
# Work per LP solve (GLOP, warm): a fixed part and a part per column and row (measured on the
# reference host: 1.2–1.3 ms at 140–190 types × 330–430 columns, 6.7 ms at 300 × 920).
LP_S_PER_SOLVE = 3e-4
LP_S_PER_CELL = 1.8e-8
# Work per column added, a fixed part and a part per type (~145 µs at 4,000 types).
ADD_S = 1e-5
ADD_S_PER_TYPE = 7e-8
# Patterns the LP uses above this much form its basis (``Node.basis``).
BASIS_USAGE = 1e-6


@dataclass(frozen=True)
class PatternLp:
    """One solve's outcome: a proven bound (3), the LP's value, the columns, their values, scaled duals.

    ``duals`` are dual feasible (scaled by 1 / max(1, B)), so ``dual_value`` = Σ d·π is a valid
    bound and 1 − π·a each pattern's reduced cost (≥ 0); both are zero before any proven B.
    """

    bound: int
    value: float
    patterns: tuple[Pattern, ...]
    usage: tuple[float, ...]
    duals: tuple[float, ...]
    dual_value: float
    converged: bool


@dataclass(frozen=True)
class Node:
    """What the pricing step sees after one LP solve: demand, limits u, duals, value, columns in use."""

    demand: np.ndarray
    limits: np.ndarray
    duals: np.ndarray
    value: float
    basis: tuple[Pattern, ...]
    exact: bool
    known: int
    deadline: float


@dataclass(frozen=True)
class Round:
    """The pricing step's answer: new columns (worth more than 1), and whether to stop after them.

    ``converged``: no pattern is worth more than 1 at the LP's duals (proven, so (3) is z_LP);
    ``done``: stop without that proof (the step judged more columns not worth their time).
    """

    columns: tuple[Pattern, ...] = ()
    converged: bool = False
    done: bool = False


class FarleyBound:
    """(3) over one solve: the best dual-feasible point so far, its value Σ d·π, and ⌈·⌉."""

    def __init__(self, demand: np.ndarray) -> None:
        self.demand = demand
        self.duals = np.zeros(len(demand))
        self.value = 0.0
        self.bound = 0

    def offer(self, point: np.ndarray, upper: float) -> None:
        """A point π' ≥ 0 with B = ``upper`` ≥ V(π'): keep π' / max(1, B) if its bound is better."""
        scale = max(1.0, upper)
        value = float(self.demand @ point) / scale
        if value > self.value:
            self.duals, self.value = point / scale, value
            self.bound = max(self.bound, math.ceil(value - BOUND_TOLERANCE))


class Pricing(Protocol):
    """A pricing step (2): new columns for the LP's duals, and points for the bound (3)."""

    # True when the step reads ``Node.basis``
    uses_basis: bool

    def price(self, node: Node, farley: FarleyBound) -> Round:
        """The columns worth adding at ``node``; proven points go to ``farley.offer``."""
        ...


class ColumnGeneration:
    """The LP (1) over a growing set of patterns, solved for any demands d' ≤ d (one GLOP model)."""

    def __init__(self, types: ItemTypes, initial: Sequence[Pattern], pricing: Pricing) -> None:
        self.types, self.pricing = types, pricing
        self._limits = types.fit_limits()
        self._solver = pywraplp.Solver.CreateSolver("GLOP")
        # (1) every item covered; right-hand sides set per call
        self._rows = [self._solver.Constraint(0.0, self._solver.infinity()) for _ in types.sizes]
        self._objective = self._solver.Objective()
        self._objective.SetMinimization()
        self.patterns: list[Pattern] = []
        # λ[p] = bins packed with pattern p
        self._columns: list[pywraplp.Variable] = []
        self._known: set[Pattern] = set()
        self.exchange = len(types.capacity) == 1
        if self.exchange:
            for t in range(len(types.sizes) - 1):
                # (4) exchange columns: an item of type t stands in for one of type t + 1
                exchange = self._solver.NumVar(0.0, self._solver.infinity(), f"exchange[{t}]")
                self._rows[t].SetCoefficient(exchange, -1.0)
                self._rows[t + 1].SetCoefficient(exchange, 1.0)
        for pattern in initial:
            self.add(pattern)

    def add(self, pattern: Pattern) -> bool:
        """A new column λ[p] for ``pattern``; False if it was already there (or empty)."""
        if pattern in self._known or not any(pattern):
            return False
        work.spend(ADD_S + ADD_S_PER_TYPE * len(pattern))
        self._known.add(pattern)
        var = self._solver.NumVar(0.0, self._solver.infinity(), f"lambda[{len(self._columns)}]")
        self._objective.SetCoefficient(var, 1.0)
        for t, a in enumerate(pattern):
            if a:
                self._rows[t].SetCoefficient(var, float(a))
        self.patterns.append(pattern)
        self._columns.append(var)
        return True

    def _basis(self, usage: tuple[float, ...]) -> tuple[Pattern, ...]:
        """The patterns an LP solution (``usage``: each column's value) uses."""
        return tuple(p for p, x in zip(self.patterns, usage, strict=True) if x > BASIS_USAGE)

    def solve(
        self,
        demand: Sequence[int],
        target: float,
        deadline: float,
        exact: bool = True,
        known: int = 0,
        stop_at: float | None = None,
    ) -> PatternLp:
        """Generate columns for ``demand`` until none prices out, the bound reaches ``target``, or time.

        ``deadline`` is on the work clock (``packer.work``). ``exact`` asks the pricing step for a
        proof (a bound); without it the step may price heuristically. ``known``: a bound proven
        elsewhere, for the step to stop early. ``stop_at``: (5), stop once z_P ≤ this.
        """
        for row, d in zip(self._rows, demand, strict=True):
            row.SetLb(float(d))
        d = np.asarray(demand, dtype=np.int64)
        limits = np.minimum(d, self._limits)
        farley = FarleyBound(d)
        value, converged, usage = math.inf, False, ()
        while work.now() < deadline:
            work.spend(LP_S_PER_SOLVE + LP_S_PER_CELL * len(self._rows) * len(self._columns))
            if self._solver.Solve() != pywraplp.Solver.OPTIMAL:
                break  # (1) always has a solution with the initial patterns: a numerical failure
            value = self._objective.Value()
            # read now: once a column is added, GLOP's values of this solution are gone
            usage = tuple(var.solution_value() for var in self._columns)
            if stop_at is not None and value < stop_at + BOUND_TOLERANCE:
                break  # (5)
            duals = np.array([max(0.0, row.dual_value()) for row in self._rows])
            basis = self._basis(usage) if exact and self.pricing.uses_basis else ()
            # (2) pricing, which offers its proven points to (3)
            answer = self.pricing.price(Node(d, limits, duals, value, basis, exact, known, deadline), farley)
            added = [p for p in answer.columns if self.add(p)]
            if answer.converged:
                converged = True
                break
            if answer.done or not added or farley.bound >= target:
                break
        return PatternLp(
            bound=farley.bound,
            value=value,
            patterns=tuple(self.patterns),
            # columns added after the last solve have the value 0
            usage=usage + (0.0,) * (len(self.patterns) - len(usage)),
            duals=tuple(float(pi) for pi in farley.duals),
            dual_value=farley.value,
            converged=converged,
        )
