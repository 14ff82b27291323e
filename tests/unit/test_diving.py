"""Diving on the pattern LP (packer.binpacking.diving) and the warm column generation under it."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from packer.binpacking.diving import dive
from packer.binpacking.fit import decreasing, first_fit
from packer.binpacking.item_types import ItemTypes
from packer.binpacking.knapsack_pricing import KnapsackPricing, solve_pattern_lp
from packer.binpacking.patterns import ColumnGeneration

BPPLIB = Path(__file__).resolve().parents[1] / "data" / "bpplib"


def read(name: str) -> tuple[list[int], ItemTypes]:
    words = (BPPLIB / name).read_text().split()
    m, capacity = int(words[0]), int(words[1])
    weights = [int(words[2 + 2 * k]) for k in range(m) for _ in range(int(words[3 + 2 * k]))]
    return weights, ItemTypes.of_sizes(weights, capacity)


def ffd_count(weights: list[int], types: ItemTypes) -> int:
    return max(first_fit(weights, types.capacity[0], decreasing(weights))) + 1


def start(weights: list[int], types: ItemTypes) -> ColumnGeneration:
    ffd = first_fit(weights, types.capacity[0], decreasing(weights))
    return ColumnGeneration(types, types.patterns(ffd), KnapsackPricing(types.column(0), types.capacity[0]))


@pytest.mark.parametrize(("name", "optimum"), [("Schwerin2_BPP27.txt", 21), ("Hard28_BPP47.txt", 71)])
def test_dive_packs_into_the_lp_bound_where_first_fit_needs_one_more(name, optimum):
    weights, types = read(name)
    model = start(weights, types)
    lp = model.solve(types.counts, math.inf, math.inf)
    assert lp.converged and lp.bound == optimum
    assert ffd_count(weights, types) > optimum
    found = dive(model, optimum, time.monotonic() + 60, lp.duals, exact=True)
    assert found.bins is not None and len(found.bins) <= optimum
    # every item exactly once, every bin within capacity
    assert [sum(b[t] for b in found.bins) for t in range(len(types.sizes))] == list(types.counts)
    assert all(types.fits(b) for b in found.bins)


def test_dive_below_the_lp_bound_fails_and_keeps_its_best_packing():
    weights, types = read("Schwerin2_BPP27.txt")
    model = start(weights, types)
    lp = model.solve(types.counts, math.inf, math.inf)
    found = dive(model, 20, time.monotonic() + 60, lp.duals, exact=True)
    assert found.bins is None
    assert len(found.best) >= 21
    assert [sum(b[t] for b in found.best) for t in range(len(types.sizes))] == list(types.counts)


def test_warm_model_resolves_smaller_demands_like_a_fresh_one():
    weights, types = read("Hard28_BPP47.txt")
    model = start(weights, types)
    model.solve(types.counts, math.inf, math.inf)
    half = [d // 2 for d in types.counts]
    warm = model.solve(half, math.inf, math.inf)
    keep = [t for t, d in enumerate(half) if d]
    singles = [tuple(int(k == t) for k in range(len(keep))) for t in range(len(keep))]
    fresh = solve_pattern_lp(
        [types.sizes[t][0] for t in keep],
        [half[t] for t in keep],
        types.capacity[0],
        singles,
        math.inf,
        math.inf,
    )
    assert warm.converged and fresh.converged
    assert warm.value == pytest.approx(fresh.value, abs=1e-6)


def test_a_dive_out_of_time_still_returns_a_complete_packing():
    weights, types = read("Hard28_BPP47.txt")
    model = start(weights, types)
    lp = model.solve(types.counts, math.inf, math.inf)
    found = dive(model, 71, 0.0, lp.duals, exact=True)
    assert found.bins is None
    assert [sum(b[t] for b in found.best) for t in range(len(types.sizes))] == list(types.counts)
