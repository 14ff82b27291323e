"""Exact one-resource packing (patterns, pattern IP, MBS', CP-SAT fixed bins) and plan() on it.

Named test_arcflow* with the other exact-packing tests; the method is the pattern (column
generation) formulation, the arc-flow LP's equivalent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from packer.binpacking.bounds import l2_bound
from packer.binpacking.knapsack_pricing import solve_pattern_lp
from packer.binpacking.one_dimension import pack_one_dimension
from packer.binpacking.slack import minimum_slack
from packer.check import check_plan
from packer.planner import plan
from packer.problem import plain_problem
from packer.settings import Objective, SolverSettings, Thresholds
from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint, ServerBaseline

# Four small BPPLIB instances (Delorme–Iori–Martello), copied so that CI has them.
BPPLIB = Path(__file__).resolve().parents[1] / "data" / "bpplib"


def profile_of(weights: list[int], capacity: int) -> Profile:
    points = tuple(
        ProfilePoint(model=f"m{k}", batch_size=1, concurrency=1, throughput=1.0, memory_mb=float(w))
        for k, w in enumerate(weights)
    )
    return Profile(
        points=points, server=ServerBaseline(memory_mb=0.0), metadata=ProfileMetadata(gpu_memory_mb=capacity)
    )


def plan_weights(weights: list[int], capacity: int, seconds: float = 10.0):
    problem = plain_problem(profile_of(weights, capacity), Objective.MIN_GPUS, float(capacity), Thresholds())
    result = plan(problem, SolverSettings(max_time_in_seconds=seconds, num_workers=2))
    assert check_plan(problem, result) == []
    return result


def read_csp(path: Path) -> tuple[list[int], int]:
    words = path.read_text().split()
    m, capacity = int(words[0]), int(words[1])
    weights = [int(words[2 + 2 * k]) for k in range(m) for _ in range(int(words[3 + 2 * k]))]
    return weights, capacity


def test_pattern_lp_bound_on_a_triplet_instance_is_a_third_of_the_items():
    # Two each of 34, 33, 33 in bins of 100: 34+33+33 twice, so the LP (and the optimum) is 2.
    lp = solve_pattern_lp([34, 33, 33], [2, 2, 2], 100, [(1, 0, 0), (0, 1, 0), (0, 0, 1)], 10**9, 1e18)
    assert lp.converged
    assert lp.bound == 2


def test_minimum_slack_fills_bins_exactly_when_it_can():
    bins = minimum_slack([6, 5, 4], [2, 2, 2], 15)
    assert len(bins) == 2
    assert all(sum(a * w for a, w in zip(b, [6, 5, 4], strict=True)) == 15 for b in bins)


def test_ffd_gap_instance_is_solved_to_the_proven_optimum():
    # The sizes add up to 182: at least 2 bins, and 44+24+22+8+... splits them into 2.
    weights = [44, 24, 24, 22, 21, 17, 8, 8, 6, 6]
    result = plan_weights(weights, 100)
    assert result.gpu_count == 2
    assert result.optimal


@pytest.mark.parametrize(
    ("weights", "capacity", "optimum"),
    [
        ([50, 50, 50, 50], 100, 2),
        ([60, 60, 60], 100, 3),
        ([34, 33, 33] * 5, 100, 5),
        ([7] * 30, 20, 15),
        ([99, 99, 99, 2], 100, 4),
    ],
)
def test_plan_returns_check_plan_clean_optimal_plans_with_the_right_count(weights, capacity, optimum):
    result = plan_weights(weights, capacity)
    assert result.gpu_count == optimum
    assert result.lower_bound == optimum
    assert result.optimal


def test_equal_sizes_are_aggregated_and_packed_to_the_optimum():
    # 200 replicas of three models: three types only.
    weights = [45] * 100 + [30] * 60 + [25] * 40
    result = plan_weights(weights, 100)
    # 40 bins of 45+30+25, 30 of 45+45, 7 of 30+30+30 (the last with 2): 77; L1 is only 73, and
    # no bin holds three 45s, so 60 leftover 45s need 30 bins.
    assert result.gpu_count == 77
    assert result.optimal


@pytest.mark.parametrize(
    ("name", "optimum"),
    [
        ("N1C1W1_A", 25),
        ("N1W1B1R0", 18),
        ("Falkenauer_t60_00", 20),
        ("Falkenauer_u120_00", 48),
    ],
)
def test_small_bpplib_instances_reach_their_published_optimum(name, optimum):
    path = BPPLIB / f"{name}.txt"
    weights, capacity = read_csp(path)
    result = plan_weights(weights, capacity)
    assert result.gpu_count == optimum
    assert result.optimal


def test_same_input_twice_gives_the_same_plan():
    weights = [44, 24, 24, 22, 21, 17, 8, 8, 6, 6, 51, 49, 33, 33, 33]
    first = plan_weights(weights, 100)
    second = plan_weights(weights, 100)
    assert [[p.model for p in g.points] for g in first.gpus] == [
        [p.model for p in g.points] for g in second.gpus
    ]


def test_time_limit_fallback_keeps_a_valid_plan_and_an_honest_bound():
    # A vanishing time limit: the greedy packing stands, the bound stays proven, no false claim.
    weights, capacity = [44, 24, 24, 22, 21, 17, 8, 8, 6, 6] * 8, 100
    outcome = pack_one_dimension(
        [w * 100 for w in weights], capacity * 100, SolverSettings(max_time_in_seconds=1e-6)
    )
    assert len(outcome.assignment) == len(weights)
    assert outcome.lower <= outcome.count
    assert outcome.proven == (outcome.lower == outcome.count)
    result = plan_weights(weights, capacity, seconds=1e-6)
    assert result.lower_bound <= result.gpu_count


def test_sizes_too_fine_for_exact_tables_are_solved_on_a_coarse_grid():
    # Scholl 2 N1W1B1R0 (optimum 18 bins of 1000, L2 says 17) in units 10,007 times finer, with 1
    # unit of slack so nothing divides out: ~10^9 table cells, far above the limit, so the bound
    # and the packing come from steps 3-5 on the grid.
    weights, capacity = read_csp(BPPLIB / "N1W1B1R0.txt")
    fine, room = [w * 10_007 for w in weights], capacity * 10_007 + 1
    assert l2_bound(fine, room) == 17
    outcome = pack_one_dimension(fine, room, SolverSettings(max_time_in_seconds=20))
    assert (outcome.count, outcome.lower, outcome.proven) == (18, 18, True)
    loads = [0] * outcome.count
    for w, b in zip(fine, outcome.assignment, strict=True):
        loads[b] += w
    assert max(loads) <= room
