r"""Pricing for the vector pattern LP: a multi-dimensional bounded knapsack, heuristic then exact.

Sets and parameters
    T            item types;  R resources
    w[t, r]      integer size of type t in resource r;  C[r] capacity;  u[t] ≤ d[t] copies allowed
    π[t] ≥ 0     the master LP's duals (value of one copy of type t)
Variables
    a[t] ∈ 0..u[t]     copies of type t in the pattern
Objective
    maximize  V(π) = Σ_t π[t]·a[t]
Constraints
    (1) Σ_t w[t, r]·a[t] ≤ C[r]        ∀ r        the pattern fits one bin

Heuristic (``greedy_price``): a dynamic greedy adds, one copy at a time, the type of best value
density π[t] / Σ_r (w[t, r] / room left in r) that fits, from an empty bin and from one copy of each
of the most valuable types; then one pass swaps a taken copy for a more valuable one that fits.

Exact (``exact_price``): CP-SAT on (1) with π scaled to integers, π'[t] = ⌊π[t]·S⌋. Its proven upper
bound B' gives V(π) ≤ (B' + n_max) / S, n_max the most items a bin holds (each copy lost < 1/S):
an upper bound on V valid even when the search stops early, which is all Farley's bound needs.
Every solution CP-SAT meets on its way to the best comes back too (a dozen per search on random
fills, most of them worth more than 1): columns for the price of one search.

The step (``VectorPricing``, the pattern LP's pricing for several resources):
    1. the heuristic, from scratch and, at the root (``exact``), from each pattern the LP uses;
       every pattern worth more than 1 is a column. In diving's node LPs (not ``exact``) that is all:
       no bound is needed there, and the extra basis starts slow every re-solve more than they help;
    2. when it finds none, CP-SAT: B is a proven bound on V(π) (Farley's bound, ``patterns`` (3)),
       its patterns worth more than 1 are columns; B ≤ 1 + tolerance proves the LP converged;
    3. settled: once ⌈z_P⌉, which no later column can raise the bound above, is no more than a bound
       already proven (``known``, e.g. L2), step 1 is skipped and step 2 runs once, for the duals the
       dive prunes by; then the generation stops (the time goes to the searches for a packing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from packer import cpsat, work
from packer.binpacking.item_types import ItemTypes, Pattern
from packer.binpacking.patterns import BOUND_TOLERANCE, FarleyBound, Node, Round
from packer.settings import SolverSettings

# Scale of the duals for CP-SAT's integer objective.
DUAL_SCALE = 10**9
# Types that start a greedy pattern with one copy (besides the empty start), most valuable first.
ANCHORS = 12
# A pattern improves the LP only if it is worth more than 1 + this (float noise in the duals).
PRICE_TOLERANCE = 1e-6
# Seconds one exact pricing (CP-SAT knapsack) may take.
EXACT_PRICING_SECONDS = 1.0
# Work of one heuristic pricing, per start (anchors and basis patterns) and type (measured on the
# reference host: NumPy steps of ~10 µs, a few per copy added).
GREEDY_S_PER_START_TYPE = 3e-7
GREEDY_S_PER_START = 5e-5


@dataclass(frozen=True)
class Priced:
    """A pattern and its value Σ π·a; ``upper`` bounds every pattern's value (inf: not known)."""

    value: float
    pattern: Pattern
    upper: float


def _dynamic_fill(
    pattern: np.ndarray, sizes: np.ndarray, limits: np.ndarray, duals: np.ndarray, capacity: np.ndarray
) -> np.ndarray:
    """Add copies one at a time: the type of best π[t] / Σ_r w[t, r] / room[r] that still fits."""
    room = capacity - pattern @ sizes
    while True:
        open_ = (pattern < limits) & np.all(sizes <= room, axis=1)
        if not open_.any():
            return pattern
        density = duals / np.maximum((sizes / np.maximum(room, 1)).sum(axis=1), 1e-12)
        t = int(np.argmax(np.where(open_, density, -1.0)))
        pattern[t] += 1
        room = room - sizes[t]


def _swap(pattern: np.ndarray, sizes: np.ndarray, limits: np.ndarray, duals: np.ndarray, capacity) -> None:
    """One improving pass: drop one copy of a taken type for one copy of a better type that then fits."""
    room = capacity - pattern @ sizes
    for t in np.argsort(duals, kind="stable"):
        if pattern[t] == 0:
            continue
        freed = room + sizes[t]
        candidates = (pattern < limits) & (duals > duals[t]) & np.all(sizes <= freed, axis=1)
        if candidates.any():
            u = int(np.argmax(np.where(candidates, duals, -1.0)))
            pattern[t] -= 1
            pattern[u] += 1
            room = freed - sizes[u]


def greedy_price(
    sizes: np.ndarray,
    limits: np.ndarray,
    duals: np.ndarray,
    capacity: np.ndarray,
    anchors: int = ANCHORS,
    basis: tuple[Pattern, ...] = (),
) -> list[Priced]:
    """The heuristic's distinct patterns, best first.

    The dynamic greedy from an empty bin and from one copy of each of the ``anchors`` most valuable
    types, each followed by one pass of swaps and a last fill; then the same swaps and fill from each
    pattern of ``basis`` (the master LP's patterns in use: near-full bins one swap from a better one).
    """
    limits = np.where(duals > 0, limits, 0)
    work.spend((anchors + 1 + len(basis)) * (GREEDY_S_PER_START + GREEDY_S_PER_START_TYPE * len(sizes)))
    found: dict[Pattern, float] = {}
    starts: list[np.ndarray] = []
    for anchor in [None, *np.argsort(-duals, kind="stable")[:anchors]]:
        pattern = np.zeros(len(sizes), dtype=np.int64)
        if anchor is not None:
            if limits[anchor] == 0:
                continue
            pattern[anchor] = 1
        starts.append(_dynamic_fill(pattern, sizes, limits, duals, capacity))
    starts.extend(np.minimum(np.asarray(b, dtype=np.int64), limits) for b in basis)
    for pattern in starts:
        _swap(pattern, sizes, limits, duals, capacity)
        _dynamic_fill(pattern, sizes, limits, duals, capacity)
        found[tuple(int(a) for a in pattern)] = float(pattern @ duals)
    return sorted((Priced(v, p, np.inf) for p, v in found.items()), key=lambda p: -p.value)


def exact_price(
    sizes: np.ndarray,
    limits: np.ndarray,
    duals: np.ndarray,
    capacity: np.ndarray,
    hint: Pattern,
    settings: SolverSettings,
    seconds: float,
) -> list[Priced]:
    """CP-SAT on (1): the patterns it met, best first, each with its proven upper bound on V(π); [] if none.

    One worker (the knapsacks are small and many) and a deterministic time limit, so the same duals
    give the same pattern whatever the machine's load; ``seconds`` of wall time caps it as well.
    """
    model = cp_model.CpModel()
    useful = [t for t in range(len(sizes)) if duals[t] > 0 and limits[t] > 0]
    # a[t] = copies of type t in the pattern
    a = {t: model.new_int_var(0, int(limits[t]), f"a[{t}]") for t in useful}
    for r, cap in enumerate(capacity):
        # (1) the pattern fits one bin
        model.add(sum(int(sizes[t, r]) * a[t] for t in useful) <= int(cap))
    scaled = {t: int(duals[t] * DUAL_SCALE) for t in useful}
    model.maximize(sum(scaled[t] * a[t] for t in useful))
    for t in useful:
        model.add_hint(a[t], hint[t])
    met = _Solutions([a[t] for t in useful])
    solver = run_small(model, settings, seconds, met)
    status = solver.status_name()
    if status == "MODEL_INVALID":
        raise ValueError("CP-SAT rejected the pricing knapsack as invalid")
    if status not in ("OPTIMAL", "FEASIBLE"):
        return []
    most = max(1, _most_items(sizes, limits, capacity))
    upper = (solver.best_objective_bound + most) / DUAL_SCALE
    if status == "OPTIMAL":
        upper = min(upper, (solver.objective_value + most) / DUAL_SCALE)
    found: dict[Pattern, float] = {}
    for values in [[solver.value(v) for v in met.variables], *reversed(met.values)]:
        pattern = [0] * len(sizes)
        for t, copies in zip(useful, values, strict=True):
            pattern[t] = copies
        found.setdefault(tuple(pattern), float(np.asarray(pattern) @ duals))
    return sorted((Priced(v, p, upper) for p, v in found.items()), key=lambda p: -p.value)


class _Solutions(cp_model.CpSolverSolutionCallback):
    """The values of ``variables`` in every solution CP-SAT reports."""

    def __init__(self, variables: list[cp_model.IntVar]) -> None:
        super().__init__()
        self.variables = variables
        self.values: list[list[int]] = []

    def on_solution_callback(self) -> None:
        """Record one solution."""
        self.values.append([self.value(v) for v in self.variables])


def _most_items(sizes: np.ndarray, limits: np.ndarray, capacity: np.ndarray) -> int:
    """The most items one pattern can hold: in each resource, its smallest sizes up to the capacity."""
    best = int(limits.sum())
    for r, cap in enumerate(capacity):
        column = np.sort(np.repeat(sizes[:, r], limits))
        best = min(best, int(np.searchsorted(np.cumsum(column), cap, side="right")))
    return best


def run_small(
    model: cp_model.CpModel,
    settings: SolverSettings,
    seconds: float,
    callback: cp_model.CpSolverSolutionCallback | None = None,
) -> cp_model.CpSolver:
    """CP-SAT for a small subproblem: one worker, the plan's seed, a deterministic and a wall limit.

    Small models solved many times gain nothing from parallel workers (on 2 cores the default's
    interleaved subsolvers take turns on one model); the deterministic limit (CP-SAT's work units,
    about seconds) makes a stopped search stop at the same point on a busy machine as on an idle one.
    """
    solver = cp_model.CpSolver()
    cpsat.set_limits(solver.parameters, seconds)
    solver.parameters.max_deterministic_time = max(seconds, cpsat.MIN_SECONDS)
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = settings.random_seed
    solver.parameters.log_search_progress = settings.debug
    solver.solve(model, callback)
    cpsat.account(solver)
    return solver


class VectorPricing:
    """The pricing step (``patterns.Pricing``) for several resources: heuristic, then CP-SAT (steps 1–3)."""

    uses_basis = True

    def __init__(self, types: ItemTypes, settings: SolverSettings) -> None:
        self.settings = settings
        self._sizes = types.array()
        self._capacity = np.asarray(types.capacity, dtype=np.int64)

    def price(self, node: Node, farley: FarleyBound) -> Round:
        """Steps 1–3 of the module docstring at ``node``."""
        settled = node.exact and math.ceil(node.value - BOUND_TOLERANCE) <= node.known
        heuristic = greedy_price(self._sizes, node.limits, node.duals, self._capacity, basis=node.basis)
        # 1. the heuristic's columns
        improving = _improving(heuristic)
        if not settled and improving:
            return Round(columns=improving)
        if not node.exact:
            return Round(done=True)
        # 2. CP-SAT, with the time left
        seconds = min(EXACT_PRICING_SECONDS, node.deadline - work.now())
        priced = exact_price(
            self._sizes, node.limits, node.duals, self._capacity, heuristic[0].pattern, self.settings, seconds
        )
        if not priced:
            return Round(done=True)
        farley.offer(node.duals, priced[0].upper)
        # 3. settled: the duals were all that was wanted
        if settled:
            return Round(done=True)
        return Round(columns=_improving(priced), converged=priced[0].upper <= 1 + PRICE_TOLERANCE)


def _improving(priced: list[Priced]) -> tuple[Pattern, ...]:
    """The patterns of ``priced`` worth more than 1."""
    return tuple(p.pattern for p in priced if p.value > 1 + PRICE_TOLERANCE)
