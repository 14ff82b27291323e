"""check_plan catches every kind of broken plan (so the tests that rely on it mean something)."""

from __future__ import annotations

import dataclasses

from packer.check import check_plan
from packer.planner import plan
from packer.problem import plain_problem
from packer.service import BUILTIN_PROFILE
from packer.settings import Objective, Thresholds
from profiler.profiles.profile_io import read_profile


def seed_plan():
    problem = plain_problem(read_profile(BUILTIN_PROFILE), Objective.THROUGHPUT, 16000, Thresholds())
    return problem, plan(problem)


def test_check_plan_flags_a_missing_model():
    problem, result = seed_plan()
    first = result.gpus[0]
    broken = dataclasses.replace(
        result, gpus=(dataclasses.replace(first, points=first.points[1:]), *result.gpus[1:])
    )
    assert any("is not placed" in v for v in check_plan(problem, broken))


def test_check_plan_flags_a_model_placed_twice_and_an_overfull_gpu():
    problem, result = seed_plan()
    a, b = result.gpus[0], result.gpus[1]
    merged = dataclasses.replace(a, points=a.points + b.points)  # b stays on its own GPU too
    broken = dataclasses.replace(result, gpus=(merged, *result.gpus[1:]))
    violations = check_plan(problem, broken)
    assert any("placed 2 times" in v for v in violations)
    assert any("GPU utilization" in v and "> limit" in v for v in violations)


def test_check_plan_flags_wrong_totals_and_false_optimality():
    problem, result = seed_plan()
    lying = dataclasses.replace(result.gpus[0], memory_mb=result.gpus[0].memory_mb - 1000)
    broken = dataclasses.replace(result, gpus=(lying, *result.gpus[1:]), lower_bound=5, solver_status="FFD")
    violations = check_plan(problem, broken)
    assert any("reported GPU memory" in v for v in violations)
    assert any("claims optimality" in v for v in violations)
