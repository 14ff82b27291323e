"""Fleets above the headroom limit: the engines pack them into check_plan-clean plans near the bound."""

from __future__ import annotations

from packer.binpacking.engines import HEADROOM_LIMIT, engine_for
from packer.check import check_plan
from packer.planner import plan
from packer.problem import plain_problem
from packer.settings import Objective, SolverSettings, Thresholds
from packer.testing.synthetic import seed_like_fleet


def test_one_resource_and_large_fleets_go_to_their_own_engines():
    assert engine_for([[1]] * 3, [10]) == "one_dimension"
    assert engine_for([[1, 1]] * 3, [10, 10]) == "vector"
    assert engine_for([[1, 1]] * (HEADROOM_LIMIT + 1), [10, 10]) == "vector"


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
