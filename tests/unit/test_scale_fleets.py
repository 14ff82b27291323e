"""Vector fleets above the x[m, g] limit: greedy + CP-SAT repairs, always a check_plan-clean plan."""

from __future__ import annotations

import random
import time

import numpy as np
from synthetic import seed_like_fleet

from packer.binpacking.engines import VECTOR_EXACT_LIMIT, engine_for
from packer.binpacking.repair import greedy, improve
from packer.check import check_plan
from packer.planner import plan
from packer.problem import plain_problem
from packer.settings import Objective, SolverSettings, Thresholds


def test_one_resource_and_large_fleets_go_to_their_own_engines():
    assert engine_for([[1]] * 3, [10]) == "one_dimension"
    assert engine_for([[1, 1]] * 3, [10, 10]) == "assignment"
    assert engine_for([[1, 1]] * (VECTOR_EXACT_LIMIT + 1), [10, 10]) == "repair"


def test_large_throughput_fleet_plan_is_valid_and_within_one_gpu_of_its_bound():
    problem = plain_problem(seed_like_fleet(300, seed=7), Objective.THROUGHPUT, 16000.0, Thresholds())
    result = plan(problem, SolverSettings(max_time_in_seconds=3, num_workers=1))
    assert check_plan(problem, result) == []
    assert result.lower_bound <= result.gpu_count <= result.ffd_gpu_count
    assert result.gpu_count <= result.lower_bound + 2


def test_large_min_gpus_fleet_plan_is_valid():
    problem = plain_problem(seed_like_fleet(300, seed=7), Objective.MIN_GPUS, 16000.0, Thresholds())
    result = plan(problem, SolverSettings(max_time_in_seconds=3, num_workers=1))
    assert check_plan(problem, result) == []
    assert result.lower_bound <= result.gpu_count <= result.ffd_gpu_count


def test_repairs_only_ever_replace_the_plan_with_a_feasible_smaller_one():
    rng = random.Random(3)
    demands = np.array([[rng.randint(10, 60), rng.randint(5, 50)] for _ in range(60)])
    capacity = np.array([100, 100])
    start = greedy(demands, capacity, list(range(60)), best=False)
    better = improve(demands, capacity, start, 1, SolverSettings(random_seed=1), deadline=0.0)
    assert better == start  # no time: nothing changes
    improved = improve(
        demands, capacity, start, 1, SolverSettings(random_seed=1), deadline=time.perf_counter() + 2
    )
    loads = np.zeros((max(improved) + 1, 2))
    for m, g in enumerate(improved):
        loads[g] += demands[m]
    assert (loads <= capacity).all()
    assert max(improved) <= max(start)
