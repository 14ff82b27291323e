"""The vector engine (packer.binpacking): proofs on exact fills, valid bounds, diving, determinism, FFD."""

from __future__ import annotations

import itertools
import math
import random
import time

import numpy as np
import pytest

from packer.binpacking import vector_full_bins, vector_search
from packer.binpacking.diving import dive
from packer.binpacking.ffd import first_fit_decreasing
from packer.binpacking.greedy import greedy_packings
from packer.binpacking.item_types import ItemTypes
from packer.binpacking.patterns import ColumnGeneration
from packer.binpacking.vector_engine import pack_vector_exact
from packer.binpacking.vector_pricing import VectorPricing, exact_price, greedy_price
from packer.binpacking.vector_search import improve
from packer.settings import SolverSettings
from packer.testing.vector_instances import FAMILIES, exact_fill, instance


def assert_feasible(demands: list[list[int]], capacity: list[int], assignment) -> None:
    """Every item in one bin numbered 0..k-1, none empty, every bin within capacity in every resource."""
    assert len(assignment) == len(demands)
    count = max(assignment) + 1
    assert sorted(set(assignment)) == list(range(count))
    loads = np.zeros((count, len(capacity)), dtype=np.int64)
    for i, b in enumerate(assignment):
        loads[b] += demands[i]
    assert (loads <= np.asarray(capacity)).all()


def brute_force_optimum(demands: list[list[int]], capacity: list[int]) -> int:
    """Fewest bins by trying every assignment of items to bins (tiny instances only)."""
    n = len(demands)
    for bins in range(1, n + 1):
        for assignment in itertools.product(range(bins), repeat=n):
            if assignment[0] != 0:
                continue
            loads = [[0] * len(capacity) for _ in range(bins)]
            for i, b in enumerate(assignment):
                loads[b] = [x + d for x, d in zip(loads[b], demands[i], strict=True)]
            if all(x <= c for load in loads for x, c in zip(load, capacity, strict=True)):
                return bins
    raise AssertionError("unreachable: one item per bin always fits")


def vector_lp(types: ItemTypes, initial: list) -> ColumnGeneration:
    """The pattern LP of ``types`` with the vector pricing step."""
    return ColumnGeneration(types, initial, VectorPricing(types, SolverSettings()))


def tiny(seed: int) -> tuple[list[list[int]], list[int]]:
    rng = random.Random(seed)
    capacity = [20, 20, 20]
    return [[rng.randint(2, 12) for _ in capacity] for _ in range(rng.randint(5, 7))], capacity


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_small_exact_fills_are_packed_into_their_known_optimum_and_proven(seed):
    demands, capacity, optimum = exact_fill(40, seed)
    outcome = pack_vector_exact(demands, capacity, SolverSettings(max_time_in_seconds=10))
    assert_feasible(demands, capacity, outcome.assignment)
    assert outcome.count == optimum == outcome.lower
    assert outcome.proven and outcome.status == "OPTIMAL"


def test_full_bin_search_partitions_an_exact_fill_of_five_hundred_models():
    demands, capacity, optimum = exact_fill(500, 7)
    sizes, cap = np.asarray(demands), np.asarray(capacity)
    tight = vector_full_bins.tight_resources(sizes, cap, optimum)
    assert tight == [0, 1, 2]
    found = vector_full_bins.search(sizes, cap, tight, time.monotonic() + 60)
    assert found.bins is not None and len(found.bins) == optimum
    assert sorted(i for b in found.bins for i in b) == list(range(500))
    assert all((sizes[b].sum(axis=0) == cap).all() for b in found.bins)


@pytest.mark.parametrize("seed", range(8))
def test_pattern_lp_bound_never_exceeds_the_brute_forced_optimum(seed):
    demands, capacity = tiny(seed)
    optimum = brute_force_optimum(demands, capacity)
    types = ItemTypes.of(demands, capacity)
    lp = vector_lp(types, types.patterns(first_fit_decreasing(demands, capacity)))
    solved = lp.solve(types.counts, float("inf"), time.monotonic() + 30)
    assert solved.converged
    assert solved.bound <= optimum
    assert solved.dual_value <= solved.value + 1e-6
    outcome = pack_vector_exact(demands, capacity, SolverSettings(max_time_in_seconds=10))
    assert_feasible(demands, capacity, outcome.assignment)
    assert outcome.lower <= optimum == outcome.count


def test_exact_pricing_bounds_every_greedy_pattern():
    demands, capacity, _ = instance("uniform", 60, 5)
    types = ItemTypes.of(demands, capacity)
    sizes, cap = types.array(), np.asarray(capacity)
    duals = np.random.default_rng(5).uniform(0.0, 0.4, len(types.sizes))
    limits = np.asarray(types.counts)
    best = greedy_price(sizes, limits, duals, cap)[0]
    found = exact_price(sizes, limits, duals, cap, best.pattern, SolverSettings(), 5.0)
    assert found and found[0].upper >= found[0].value >= best.value - 1e-9
    assert [p.value for p in found] == sorted((p.value for p in found), reverse=True)
    assert len({p.pattern for p in found}) == len(found)
    assert all(types.fits(p.pattern) and p.upper == found[0].upper for p in found) and types.fits(
        best.pattern
    )


def test_dive_out_of_time_still_returns_a_complete_feasible_packing():
    demands, capacity, _ = instance("anticorrelated", 80, 2)
    types = ItemTypes.of(demands, capacity)
    initial = [p for a in greedy_packings(demands, capacity) for p in types.patterns(a)]
    model = vector_lp(types, initial)
    found = dive(model, 1, time.monotonic() - 1.0, tuple(0.0 for _ in types.sizes))
    assert found.bins is None and found.best
    assert [sum(b[t] for b in found.best) for t in range(len(types.sizes))] == list(types.counts)
    assert all(types.fits(b) for b in found.best)
    assert_feasible(demands, capacity, types.assign(found.best))


def test_same_seed_gives_the_same_packing_when_the_search_completes():
    demands, capacity, _ = instance("uniform", 150, 1)
    settings = SolverSettings(max_time_in_seconds=20, random_seed=3)
    first = pack_vector_exact(demands, capacity, settings)
    second = pack_vector_exact(demands, capacity, settings)
    assert first.proven and second.proven
    assert first.assignment == second.assignment
    start = greedy_packings(demands, capacity)[0]
    runs = [improve(demands, capacity, start, first.count, settings, time.monotonic() + 20) for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("family", FAMILIES)
def test_engine_is_never_worse_than_first_fit_decreasing(family):
    demands, capacity, _ = instance(family, 90, 11)
    outcome = pack_vector_exact(demands, capacity, SolverSettings(max_time_in_seconds=2))
    assert_feasible(demands, capacity, outcome.assignment)
    assert (
        outcome.lower
        <= outcome.count
        <= outcome.ffd_count
        == max(first_fit_decreasing(demands, capacity)) + 1
    )
    assert outcome.proven == (outcome.count == outcome.lower)


@pytest.mark.parametrize("seed", [1, 2])
def test_column_generation_stops_once_its_value_cannot_beat_a_known_bound(seed):
    demands, capacity, optimum = exact_fill(60, seed)
    types = ItemTypes.of(demands, capacity)
    initial = [p for a in greedy_packings(demands, capacity) for p in types.patterns(a)]
    lp = vector_lp(types, initial)
    stopped = lp.solve(types.counts, float("inf"), time.monotonic() + 60, known=optimum)
    # (4): the restricted LP's value is within the known bound, and nothing proven goes past the optimum
    assert math.ceil(stopped.value - 1e-6) <= optimum
    assert not stopped.converged
    assert stopped.bound <= optimum and stopped.dual_value <= optimum + 1e-6


@pytest.mark.parametrize("seed", [1, 2])
def test_diving_node_lp_stops_pricing_once_its_value_fits_the_bins_left(seed):
    demands, capacity, optimum = exact_fill(40, seed)
    types = ItemTypes.of(demands, capacity)
    singles = [tuple(int(t == u) for u in range(len(types.sizes))) for t in range(len(types.sizes))]
    deadline = time.monotonic() + 60
    # (5): one item per bin already fits in len(demands) bins: no pricing, no new column
    roomy = vector_lp(types, singles)
    at_once = roomy.solve(types.counts, len(demands) + 1, deadline, exact=False, stop_at=len(demands))
    assert at_once.value == pytest.approx(len(demands)) and len(at_once.patterns) == len(singles)
    # a target the LP cannot reach: heuristic pricing runs until it finds nothing better
    tight = vector_lp(types, singles)
    priced = tight.solve(types.counts, optimum, deadline, exact=False, stop_at=optimum - 1)
    assert len(priced.patterns) > len(singles) and priced.value < len(demands) / 2
    assert not priced.converged and priced.bound == 0


@pytest.mark.parametrize("seed", [3, 4])
def test_farley_bound_of_an_exact_fill_never_exceeds_its_optimum_and_reaches_it_when_converged(seed):
    demands, capacity, optimum = exact_fill(24, seed)
    types = ItemTypes.of(demands, capacity)
    lp = vector_lp(types, types.patterns(first_fit_decreasing(demands, capacity)))
    solved = lp.solve(types.counts, float("inf"), time.monotonic() + 60)
    assert solved.dual_value <= optimum + 1e-6 and solved.bound <= optimum
    if solved.converged:
        assert solved.bound == optimum


def test_local_search_keeps_its_bin_index_consistent_with_its_bins_after_moves():
    demands, capacity, _ = instance("uniform", 60, 4)
    start = greedy_packings(demands, capacity)[0]
    sizes, cap = np.asarray(demands), np.asarray(capacity)
    state = vector_search._State(sizes, cap, start)
    state.drop_bin(0)
    rng = random.Random(0)
    for _ in range(200):  # moves, swaps and kicks; the bin may never empty, so a fixed number
        if not state.pending:
            break
        vector_search._place(state, state.pending.pop(0), rng)
    for b, items in enumerate(state.bins):
        assert all(state.where[i] == b for i in items)
        assert (sizes[items].sum(axis=0) == state.loads[b]).all() and (state.loads[b] <= cap).all()
    assert all(state.where[i] == -1 for i in state.pending)
    placed = [i for items in state.bins for i in items]
    assert sorted(placed + state.pending) == list(range(len(demands)))


@pytest.mark.parametrize("family", ["correlated", "uniform", "bigsmall"])
def test_local_search_never_returns_a_worse_or_infeasible_packing(family):
    demands, capacity, _ = instance(family, 80, 6)
    start = greedy_packings(demands, capacity)[0]
    found = improve(demands, capacity, start, 0, SolverSettings(), time.monotonic() + 1.0)
    assert_feasible(demands, capacity, found)
    assert max(found) <= max(start)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pricing_finds_a_pattern_worth_more_than_one_whenever_a_full_bin_is(seed):
    demands, capacity, _ = exact_fill(30, seed)
    types = ItemTypes.of(demands, capacity)
    sizes, cap, limits = types.array(), np.asarray(capacity), np.asarray(types.counts)
    # each item priced at 1.02 x its mean share: every bin of the exact fill is worth 1.02
    duals = 1.02 * (sizes / cap).mean(axis=1)
    greedy = greedy_price(sizes, limits, duals, cap)
    assert all(
        types.fits(p.pattern) and abs(p.value - float(np.asarray(p.pattern) @ duals)) < 1e-9 for p in greedy
    )
    # column generation's order: the greedy first, CP-SAT when the greedy finds nothing worth more than 1
    found = (
        greedy
        if greedy[0].value > 1 + 1e-6
        else exact_price(sizes, limits, duals, cap, greedy[0].pattern, SolverSettings(), 5.0)
    )
    assert found[0].value > 1 + 1e-6 and types.fits(found[0].pattern)


def test_pricing_from_the_lp_patterns_keeps_within_the_copies_left_and_the_capacity():
    demands, capacity, _ = instance("correlated", 60, 2)
    types = ItemTypes.of(demands, capacity)
    sizes, cap = types.array(), np.asarray(capacity)
    duals = np.random.default_rng(2).uniform(0.0, 0.5, len(types.sizes))
    basis = tuple(types.patterns(greedy_packings(demands, capacity)[0]))
    limits = np.asarray(types.counts).copy()
    limits[: len(limits) // 2] = 0  # half the types used up, as in a dive: basis copies of them drop out
    found = greedy_price(sizes, limits, duals, cap, basis=basis)
    assert found[0].value >= greedy_price(sizes, limits, duals, cap)[0].value - 1e-9
    assert all(
        types.fits(p.pattern) and all(a <= u for a, u in zip(p.pattern, limits, strict=True)) for p in found
    )
