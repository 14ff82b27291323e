"""The work around the solver grows linearly with the fleet: counted, not timed.

Each test counts the Python lines executed (``sys.settrace``: a comprehension's every turn counts)
while building the problem from a profile and while checking a plan, at n and 4n models on the
same machine; linear work grows about 4 times, quadratic work 16 times. The plans come from
first-fit decreasing, so the solver's own work is no part of the count.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from packer.binpacking.ffd import first_fit_decreasing
from packer.check import check_plan
from packer.planner import to_plan
from packer.problem import Problem, plain_problem
from packer.resources import units_down, units_up
from packer.settings import Objective, Thresholds
from packer.solution import Placement, Solution
from packer.testing.synthetic import random_fleet

SMALL = 150
# Linear work grows 4×; below 6× passes, quadratic work (16×, or 4× plus a term of n²) fails.
MOST_GROWTH = 6.0


def _lines(work: Callable[[], object]) -> int:
    """How many Python lines ``work()`` executes."""
    count = 0

    def trace(frame, event, arg):  # noqa: ANN001, ANN202 (the sys.settrace protocol)
        nonlocal count
        if event == "line":
            count += 1
        return trace

    sys.settrace(trace)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


def _problem(models: int, objective: Objective) -> Problem:
    return plain_problem(random_fleet(models, seed=3), objective, 16000.0, Thresholds())


def _ffd_plan(problem: Problem):
    demands = [[units_up(d) for d in item.options[0].demand] for item in problem.items]
    assignment = first_fit_decreasing(demands, [units_down(c) for c in problem.room[0]])
    placements = tuple(Placement(i, 0, g) for i, g in enumerate(assignment))
    return to_plan(problem, Solution(placements, False, 1.0, 1, "FFD", max(assignment) + 1), 0.0)


@pytest.mark.parametrize("objective", list(Objective))
def test_building_the_problem_from_a_profile_grows_linearly_with_the_models(objective: Objective):
    small, large = (random_fleet(n, seed=3) for n in (SMALL, 4 * SMALL))
    a = _lines(lambda: plain_problem(small, objective, 16000.0, Thresholds()))
    b = _lines(lambda: plain_problem(large, objective, 16000.0, Thresholds()))
    assert b <= MOST_GROWTH * a, f"{a} lines at {SMALL} models, {b} at {4 * SMALL}"


@pytest.mark.parametrize("objective", list(Objective))
def test_checking_a_plan_grows_linearly_with_the_models_and_gpus(objective: Objective):
    small, large = _problem(SMALL, objective), _problem(4 * SMALL, objective)
    small_plan, large_plan = _ffd_plan(small), _ffd_plan(large)
    assert check_plan(small, small_plan) == []
    assert check_plan(large, large_plan) == []
    assert large_plan.gpu_count >= 3 * small_plan.gpu_count  # the GPUs grow with the models too
    a = _lines(lambda: check_plan(small, small_plan))
    b = _lines(lambda: check_plan(large, large_plan))
    assert b <= MOST_GROWTH * a, f"{a} lines at {SMALL} models, {b} at {4 * SMALL}"


def test_a_profile_indexes_its_points_by_model_once():
    profile = random_fleet(4 * SMALL, seed=3, points=3)
    first = _lines(lambda: profile.points_for("model-000000"))
    for model in profile.models():
        assert [p.model for p in profile.points_for(model)] == [model] * 3
    assert _lines(lambda: profile.points_for("model-000599")) < first
    assert profile.points_for("no such model") == ()
