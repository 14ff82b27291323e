"""A plan is a function of its input and options: the same request twice gives the same plan JSON.

Issue 20's last clause. The engines measure their work on a work clock (``packer.work``), not the
wall clock, so a busy machine changes how long a plan takes, never which plan comes out. Each
case plans a generated fleet twice, the second time while busy loops load every core, and the
plans' JSON must match except the timing field. The work budget comes from a small time limit; the
wall-clock cap (``deadline``) is far away, so a loaded CI machine cannot reach it: if it ever
did, the plan would say so (``stopped_by_time_limit``) and the test would fail on that first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from packer.check import check_plan
from packer.planner import plan
from packer.service import PlanRequest, build_request_problem
from packer.settings import ANY_POINT, Objective, SolverSettings, Thresholds
from packer.testing.synthetic import random_fleet
from profiler.profiles.profile_io import write_profile

# The work budget's time limit (``work.budget``: a second or less of work), and the wall-clock cap.
TIME_LIMIT_S = 2.0
CAP_S = 600.0
# Plan JSON keys that measure time rather than decide the plan.
TIMING_KEYS = ("solve_seconds",)


@contextmanager
def busy_cores() -> Iterator[None]:
    """Busy loops in child processes, one per core (at least two), for the duration."""
    count = max(2, os.cpu_count() or 2)
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.2)
        yield
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()


def plan_json(profile: Path, objective: Objective, choose_points: bool) -> dict:
    """The plan JSON of one request, its timing fields dropped; the plan must pass its check."""
    request = PlanRequest(
        profiles=profile,
        objective=objective,
        gpu_memory_mb=None,
        thresholds=Thresholds(),
        selection=ANY_POINT,
        settings=SolverSettings(max_time_in_seconds=TIME_LIMIT_S),
        choose_points=choose_points,
    )
    problem, _ = build_request_problem(request)
    result = plan(problem, request.settings, deadline=time.monotonic() + CAP_S)
    assert check_plan(problem, result) == []
    document = result.to_dict()
    assert document["stopped_by_time_limit"] is False
    for key in TIMING_KEYS:
        document.pop(key)
    return document


# models, points per model, fleet seed, objective, choose points; the id says what the case reaches
CASES = [
    pytest.param(300, 1, 7, Objective.THROUGHPUT, False, id="throughput-300-local-search-lp-dive"),
    pytest.param(120, 1, 7, Objective.THROUGHPUT, False, id="throughput-120-vector-engine"),
    pytest.param(2_000, 1, 7, Objective.MIN_GPUS, False, id="min-gpus-2000-coarse-patterns-elimination"),
    pytest.param(40, 2, 5, Objective.THROUGHPUT, True, id="choose-points-40-cpsat-search"),
    pytest.param(60, 3, 3, Objective.MIN_GPUS, True, id="choose-points-60-cpsat-tie-break"),
]


@pytest.mark.parametrize(("models", "points", "seed", "objective", "choose"), CASES)
def test_the_same_plan_comes_out_twice_once_with_every_core_busy(
    tmp_path: Path, models: int, points: int, seed: int, objective: Objective, choose: bool
):
    profile = tmp_path / "fleet"
    write_profile(random_fleet(models, seed, points), profile)
    quiet = plan_json(profile, objective, choose)
    with busy_cores():
        loaded = plan_json(profile, objective, choose)
    assert loaded == quiet


def test_a_plan_stopped_by_its_wall_clock_cap_says_a_rerun_may_differ(tmp_path: Path):
    profile = tmp_path / "fleet"
    write_profile(random_fleet(300, 7), profile)
    request = PlanRequest(
        profiles=profile,
        objective=Objective.THROUGHPUT,
        gpu_memory_mb=None,
        thresholds=Thresholds(),
        selection=ANY_POINT,
        settings=SolverSettings(max_time_in_seconds=60.0),
    )
    problem, _ = build_request_problem(request)
    # a cap already past: first-fit decreasing and the bounds still run, the search does not
    result = plan(problem, request.settings, deadline=time.monotonic() - 1.0)
    assert check_plan(problem, result) == []
    assert result.to_dict()["stopped_by_time_limit"] is True
    assert any("a rerun may differ" in note for note in result.notes)
    assert result.gpu_count <= result.ffd_gpu_count
