"""--time-limit is the whole command's: it sizes the work budget; each call gets the work left.

The engines and CP-SAT are replaced by recorders here (they see only ``max_time_in_seconds``, work
units inside a plan: ``packer.work``), so these tests check the plumbing, not how fast anything
runs. The budget depends on the time limit and the fleet only; the wall-clock deadline is a cap.
"""

from __future__ import annotations

import time

import pytest

from packer import planner, service, work
from packer.check import check_plan
from packer.choice import search as choice_search
from packer.choice.greedy import greedy
from packer.choice.params import to_integers
from packer.inputs import DEFAULT_TYPE, GpuType
from packer.planner import plan
from packer.problem import build_problem, plain_problem
from packer.service import BUILTIN_PROFILE, PlanRequest, run_plan
from packer.settings import MIN_SOLVE_S, Goal, Objective, Selection, SolverSettings, Thresholds, remaining
from packer.testing.synthetic import random_fleet


def _recording(monkeypatch, module, name: str) -> list[float]:
    """Record the time limit each call of ``module.name`` gets, then let it run."""
    seen: list[float] = []
    real = getattr(module, name)

    def record(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        settings = next(a for a in (*args, *kwargs.values()) if isinstance(a, SolverSettings))
        seen.append(settings.max_time_in_seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, record)
    return seen


def _choice_problem(models: int, seed: int):
    """``models`` random models with three points each, to choose from (min-gpus, three resources)."""
    gpu = GpuType(DEFAULT_TYPE, 16000.0, random_fleet(models, seed, points=3))
    return build_problem((gpu,), Goal.MIN_GPUS, Objective.THROUGHPUT, Thresholds(), choose_points=True)


def test_remaining_is_the_time_left_and_never_less_than_the_floor():
    settings = SolverSettings(max_time_in_seconds=60)
    assert 9.5 < remaining(settings, time.monotonic() + 10).max_time_in_seconds <= 10
    assert remaining(settings, time.monotonic() - 5).max_time_in_seconds == MIN_SOLVE_S


def test_the_plain_engine_gets_the_work_budget_of_the_limit_whatever_the_wall_clock_cap(monkeypatch):
    seen = _recording(monkeypatch, planner, "pack")
    problem = plain_problem(random_fleet(50, seed=1), Objective.MIN_GPUS, 16000.0, Thresholds())
    for cap in (2, 60):
        result = plan(problem, SolverSettings(max_time_in_seconds=30, num_workers=1), time.monotonic() + cap)
        assert check_plan(problem, result) == []
    assert seen == [pytest.approx(work.budget(30, 50))] * 2


def test_a_command_whose_reading_took_time_leaves_the_solver_only_the_rest(monkeypatch):
    seen = _recording(monkeypatch, planner, "pack")
    caps: list[float] = []
    real_plan, real_build = service.plan, service.build_request_problem

    def slow(request):  # noqa: ANN001, ANN202
        time.sleep(1.0)
        return real_build(request)

    def capped(problem, settings, deadline):  # noqa: ANN001, ANN202
        caps.append(deadline)
        return real_plan(problem, settings, deadline)

    monkeypatch.setattr(service, "build_request_problem", slow)
    monkeypatch.setattr(service, "plan", capped)
    request = PlanRequest(
        BUILTIN_PROFILE, Objective.MIN_GPUS, None, Thresholds(), Selection(), SolverSettings(3.0, 1)
    )
    started = time.monotonic()
    run_plan(request)
    # The work is the budget's (the input and options decide it); the wall clock left after the
    # reading is the solve's cap: it ends within the command's limit.
    assert len(seen) == 1 and seen[0] <= work.budget(3.0, 0)
    assert caps and started + 1.0 < caps[0] <= started + 3.0


def test_each_cp_sat_stage_of_the_choice_search_gets_at_most_the_work_left(monkeypatch):
    seen = _recording(monkeypatch, choice_search, "solve")
    problem = _choice_problem(30, seed=2)
    result = plan(problem, SolverSettings(max_time_in_seconds=8, num_workers=1), time.monotonic() + 60)
    assert seen and all(s <= work.budget(8, 30) for s in seen)
    assert check_plan(problem, result) == []


def test_a_choice_model_too_large_for_the_time_left_keeps_the_greedy_plan_and_its_bound(monkeypatch):
    monkeypatch.setattr(choice_search, "MAX_VARIABLES", 10)
    seen = _recording(monkeypatch, choice_search, "solve")
    problem = _choice_problem(200, seed=4)
    first = plan(problem, SolverSettings(max_time_in_seconds=5, num_workers=1))
    again = plan(problem, SolverSettings(max_time_in_seconds=5, num_workers=1))
    assert seen == []
    assert check_plan(problem, first) == []
    assert any("too large to build and search" in note for note in first.notes)
    found = greedy(problem, to_integers(problem))
    assert first.gpu_count == len({p.slot for p in found})  # never worse than the greedy
    assert first.lower_bound <= first.gpu_count and first.objective_bound <= first.objective_value
    assert [g.points for g in first.gpus] == [g.points for g in again.gpus]  # the same plan twice


@pytest.mark.parametrize("objective", list(Objective))
def test_a_plain_plan_at_scale_is_never_worse_than_first_fit_decreasing(objective: Objective):
    problem = plain_problem(random_fleet(400, seed=5), objective, 16000.0, Thresholds())
    result = plan(problem, SolverSettings(max_time_in_seconds=2, num_workers=1))
    assert check_plan(problem, result) == []
    assert result.lower_bound <= result.gpu_count <= result.ffd_gpu_count
