"""check_plan catches every kind of broken plan; the planner reports bounds, gaps and fallbacks.

A valid plan checked against a problem with one more rule (or a mutated plan) must be flagged, so the
tests that rely on the validator mean something.
"""

from __future__ import annotations

import dataclasses

import pytest
from fleet_support import SETTINGS, Goal, Rules, Target, ab_points, gpu_type, solve, write

from packer.check import check_plan
from packer.choice import search
from packer.choice.model import StageResult
from packer.inputs import DEFAULT_TYPE, GpuType
from packer.planner import plan as plan_problem
from packer.problem import build_problem
from packer.service import BUILTIN_PROFILE
from packer.settings import Objective, SolverSettings, Thresholds
from profiler.profiles.profile_io import read_profile


@pytest.fixture
def ab(tmp_path):
    return gpu_type(DEFAULT_TYPE, write(tmp_path / "ab", ab_points()))


def problem_for(types, goal=Goal.MIN_GPUS, **options):
    types = types if isinstance(types, tuple) else (types,)
    return build_problem(types, goal, Objective.MIN_GPUS, Thresholds(), **options)


def flagged(problem, plan, fragment):
    violations = check_plan(problem, plan)
    assert any(fragment in v for v in violations), violations
    return violations


def test_check_flags_apart_models_sharing_a_gpu(ab):
    _, shared = solve(ab, choose_points=True)  # A and B on one GPU
    flagged(
        problem_for(ab, choose_points=True, rules=Rules(apart=(("A", "B"),))), shared, "must be kept apart"
    )


def test_check_flags_together_models_on_different_gpus(ab):
    _, split = solve(ab)  # A b4 and B b4 on two GPUs
    flagged(problem_for(ab, rules=Rules(together=(("A", "B"),))), split, "must share GPUs")


def test_check_flags_too_many_models_on_a_gpu(ab):
    _, shared = solve(ab, choose_points=True)
    flagged(problem_for(ab, choose_points=True, rules=Rules(max_models_per_gpu=1)), shared, "more than 1")


def test_check_flags_headroom_taken(ab):
    _, shared = solve(ab, choose_points=True)  # 1000 MB used of 1000
    flagged(problem_for(ab, choose_points=True, rules=Rules(headroom_pct=10)), shared, "> limit 900")


def test_check_flags_an_unmet_target_and_a_latency_bound(ab):
    _, plan = solve(ab)
    flagged(problem_for(ab, targets=(Target("A", 50),)), plan, "serves 30 infer/s < target 50")
    _, chosen = solve(ab, choose_points=True)  # A at b4, p99 200 ms
    bound = problem_for(ab, choose_points=True, targets=(Target("A", 5, max_latency_p99_ms=100),))
    flagged(bound, chosen, "p99 200.0 ms above its bound 100 ms")


def test_check_flags_type_counts_budget_and_pins(tmp_path, ab):
    _, plan = solve(ab)  # two GPUs
    one = GpuType(DEFAULT_TYPE, ab.memory_mb, ab.profile, count=1)
    flagged(problem_for(one), plan, "2 GPUs of type default, only 1 available")
    budget = build_problem((ab,), Goal.MAX_THROUGHPUT, Objective.THROUGHPUT, Thresholds(), gpu_budget=1)
    flagged(budget, plan, "above the budget of 1")
    other = gpu_type("other", write(tmp_path / "other", ab_points()))
    flagged(problem_for((ab, other), rules=Rules(pins=(("A", "other"),))), plan, "A is pinned to other")


def test_check_flags_a_model_twice_on_a_gpu_and_an_extra_replica(ab):
    _, plan = solve(ab, choose_points=True)
    gpu = plan.gpus[0]
    doubled = dataclasses.replace(gpu, points=gpu.points + gpu.points[:1])
    violations = flagged(
        problem_for(ab, choose_points=True), dataclasses.replace(plan, gpus=(doubled,)), "twice"
    )
    assert any("2 replicas, expected 1" in v for v in violations)


def test_check_flags_wrong_totals_unmeasured_points_and_false_claims(ab):
    problem, plan = solve(ab, choose_points=True)
    gpu = plan.gpus[0]
    faster = dataclasses.replace(gpu.points[0], throughput=99.0)
    lying = dataclasses.replace(gpu, memory_mb=gpu.memory_mb - 1, points=(faster, *gpu.points[1:]))
    broken = dataclasses.replace(plan, gpus=(lying,), objective_bound=0.5)
    violations = flagged(problem, broken, "reported GPU memory")
    assert any("not measured on default" in v for v in violations)
    assert any("claims optimality" in v for v in violations)


def test_check_flags_a_point_the_problem_did_not_choose(ab):
    _, chosen = solve(ab, choose_points=True)  # B runs at b1; the fixed point is b4
    flagged(problem_for(ab), chosen, "B runs at a point the problem did not choose")


# ---- 6. bounds, gaps and fallbacks --------------------------------------------------------------


def budget_problem(ab, gpus=1):
    return build_problem(
        (ab,), Goal.MAX_THROUGHPUT, Objective.THROUGHPUT, Thresholds(), choose_points=True, gpu_budget=gpus
    )


def test_when_cp_sat_finds_nothing_the_greedy_plan_is_returned_with_its_gap(ab, monkeypatch):
    monkeypatch.setattr(search, "extract", lambda *a: StageResult("UNKNOWN", None, None))
    problem = budget_problem(ab, gpus=2)
    plan = plan_problem(problem, SETTINGS)
    assert check_plan(problem, plan) == []
    # The greedy places the smallest points (A b1 + B b1, 15 infer/s); the bound is 30 + 20.
    assert plan.solver_status == "FFD" and not plan.optimal
    assert plan.objective_value == pytest.approx(15) and plan.objective_bound == pytest.approx(50)
    assert plan.objective_gap == pytest.approx(35)
    assert "using the greedy plan" in plan.notes[0]


def test_a_search_stopped_early_reports_the_best_plan_and_its_gap(ab, monkeypatch):
    real = search.extract

    def stopped(*args):
        outcome = real(*args)
        return dataclasses.replace(outcome, status="FEASIBLE", bound=outcome.bound + 500)

    monkeypatch.setattr(search, "extract", stopped)
    problem = budget_problem(ab)
    plan = plan_problem(problem, SETTINGS)
    assert check_plan(problem, plan) == []
    assert plan.solver_status == "FEASIBLE" and not plan.optimal
    assert plan.objective_value == pytest.approx(35) and plan.objective_bound == pytest.approx(40)
    data = plan.to_dict()
    assert data["optimal"] is False and data["objective_gap"] == pytest.approx(5)


def test_any_time_limit_gives_a_valid_plan_with_an_honest_bound():
    seed = GpuType(DEFAULT_TYPE, 16000, read_profile(BUILTIN_PROFILE))
    problem = build_problem(
        (seed,),
        Goal.MAX_TARGET_FRACTION,
        Objective.THROUGHPUT,
        Thresholds(),
        targets=(Target("classification_chest", 1000), Target("segmentation_liver", 100)),
        gpu_budget=7,
    )
    plan = plan_problem(problem, SolverSettings(max_time_in_seconds=0.05, num_workers=1))
    assert check_plan(problem, plan) == []
    assert plan.objective_bound >= plan.objective_value
    assert plan.optimal == (plan.objective_gap == 0)
