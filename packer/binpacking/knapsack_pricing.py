r"""Pricing for one resource: a bounded knapsack solved exactly by dynamic programming, with smoothing.

Sets and parameters
    T            item types;  w[t] > 0 integer size;  C capacity;  u[t] ≤ d[t] copies allowed
    π[t] ≥ 0     the duals of the pattern LP's covering rows (``patterns`` (1))
Variables
    a[t] ∈ 0..u[t]     copies of type t in the pattern
Objective
    maximize  V(π) = Σ_t π[t]·a[t]
Constraints
    (1) Σ_t w[t]·a[t] ≤ C                     the pattern fits one bin
Solved exactly: each type's copies split into chunks 1, 2, 4, ... make a 0-1 knapsack over the
chunks, one NumPy row per chunk over the capacities (types with π[t] = 0 add nothing: left out).
Being exact, every answer is a proven B = V(π) for Farley's bound (``patterns`` (3)).

Wentges smoothing (the step's policy): price at α·π̂ + (1 − α)·π, π̂ the dual-feasible duals of the
best bound so far; when that pattern does not improve the LP (a mispricing), α moves towards 0, and
only a pattern found at α = 0 worth at most 1 ends the generation (converged).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from packer import work
from packer.binpacking.item_types import ItemTypes, Pattern
from packer.binpacking.patterns import ColumnGeneration, FarleyBound, Node, PatternLp, Round

# A pattern improves the LP only if it is worth more than 1 + this (float noise in the duals).
PRICE_TOLERANCE = 1e-7
# Work per call, per dynamic-programming row (a binary chunk of one type that fits: NumPy calls) and
# per cell a row updates (capacity + 1 - the chunk's weight). Measured on the reference host in the
# pattern LPs of Falkenauer T t501_00, Hard28 BPP13 and BPP195 (capacity 1,000) and Scholl 3 HARD0
# (100,000): 0.2-3.0 s of pricing each, charged within 0.8-1.2 of it.
CALL_S = 2e-5
ROW_S = 3e-6
CELL_S = 1e-9
# Weight of the best duals so far in the pricing point (0: plain column generation), and its step.
SMOOTHING = 0.8
SMOOTHING_STEP = 0.5


def price(
    sizes: Sequence[int], limits: Sequence[int], duals: Sequence[float], capacity: int
) -> tuple[float, Pattern]:
    """(1) The most valuable pattern under ``duals``: its value and copies per type."""
    chunks: list[tuple[int, int]] = []
    for t, (limit, pi) in enumerate(zip(limits, duals, strict=True)):
        k, left = 1, int(limit)
        while left > 0 and pi > 0:
            take = min(k, left)
            chunks.append((t, take))
            left -= take
            k *= 2
    cells = sum(capacity + 1 - sizes[t] * take for t, take in chunks if sizes[t] * take <= capacity)
    work.spend(CALL_S + ROW_S * len(chunks) + CELL_S * cells)
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


class KnapsackPricing:
    """The pricing step (``patterns.Pricing``) for one resource: exact, smoothed."""

    uses_basis = False

    def __init__(self, sizes: Sequence[int], capacity: int) -> None:
        self.sizes, self.capacity = list(sizes), capacity

    def price(self, node: Node, farley: FarleyBound) -> Round:
        """The best pattern at a smoothed point; every point priced is a proven bound."""
        limits = node.limits.tolist()
        weight = SMOOTHING if farley.value > 0 else 0.0
        while True:
            point = weight * farley.duals + (1 - weight) * node.duals
            best, pattern = price(self.sizes, limits, point.tolist(), self.capacity)
            farley.offer(point, best)
            improves = float(np.asarray(pattern) @ node.duals) > 1 + PRICE_TOLERANCE
            if improves:
                return Round(columns=(pattern,))
            if weight == 0:
                return Round(converged=True)
            weight = max(0.0, weight - SMOOTHING_STEP)


def solve_pattern_lp(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    initial: Sequence[Pattern],
    target: float,
    deadline: float,
) -> PatternLp:
    """The one-resource pattern LP of types ``sizes`` (largest first) and ``counts``, from ``initial``."""
    types = ItemTypes(
        sizes=tuple((w,) for w in sizes),
        counts=tuple(counts),
        members=tuple(tuple(range(sum(counts[:t]), sum(counts[: t + 1]))) for t in range(len(counts))),
        capacity=(capacity,),
    )
    lp = ColumnGeneration(types, initial, KnapsackPricing(sizes, capacity))
    return lp.solve(counts, target, deadline)
