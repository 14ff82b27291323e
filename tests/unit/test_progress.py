"""No silent stretches: progress every few seconds on stderr, --quiet, and tables that fit."""

from __future__ import annotations

import re
import time
from pathlib import Path

from click.testing import CliRunner

import packer.progress
from cli import cli
from packer.progress import Heartbeat
from packer.report import plan_table
from packer.service import PlanRequest, run_plan
from packer.settings import Objective, SearchProgress, Selection, SolverSettings, Thresholds

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# A search that runs to its time limit: a budget of 6 GPUs and the targets (README example 3).
# Summed utilization alone: 6 GPUs hold every model only without the co-location model.
SLOW = [
    *("--profiles", str(EXAMPLES / "profiles" / "small-16gb"), "--objective", "throughput"),
    *("--gpus", "6", "--no-colocation"),
]
SLOW += ["--targets", str(EXAMPLES / "targets.yaml"), "--time-limit", "2", "--workers", "2"]


def test_heartbeat_repeats_the_latest_state_at_its_interval_and_stops():
    seen: list[SearchProgress] = []
    beat = Heartbeat(seen.append, interval=0.1)
    beat.start()
    beat.report(SearchProgress("stage", best=5, bound=4, unit="GPUs"))
    time.sleep(0.45)
    beat.stop()
    count = len(seen)
    time.sleep(0.2)
    assert 3 <= count <= 5 and len(seen) == count
    assert all((p.stage, p.best, p.bound) == ("stage", 5, 4) for p in seen)
    assert [p.seconds for p in seen] == sorted(p.seconds for p in seen)


def test_heartbeat_passes_a_new_state_at_once_when_the_last_message_is_old():
    seen: list[SearchProgress] = []
    beat = Heartbeat(seen.append, interval=0.05)
    time.sleep(0.06)
    beat.report(SearchProgress("a"))
    assert [p.stage for p in seen] == ["a"]
    beat.report(SearchProgress("b"))  # too soon after "a"
    assert [p.stage for p in seen] == ["a"]


def test_plan_reports_the_best_plan_and_bound_on_stderr_while_searching(monkeypatch):
    monkeypatch.setattr(packer.progress, "INTERVAL_S", 0.5)
    result = CliRunner().invoke(cli, ["plan", *SLOW])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("searching (")]
    assert lines, result.stderr
    assert any(
        re.search(r": best [0-9.]+ % of every target, bound [0-9.]+ % of every target, \d+ s$", line)
        for line in lines
    )
    assert "searching" not in result.stdout


def test_quiet_plan_prints_no_progress(monkeypatch):
    monkeypatch.setattr(packer.progress, "INTERVAL_S", 0.5)
    result = CliRunner().invoke(cli, ["plan", *SLOW, "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_plan_solver_settings_carry_progress_to_every_cp_sat_stage():
    seen: list[SearchProgress] = []
    request = PlanRequest(
        profiles=EXAMPLES / "profiles" / "small-16gb",
        objective=Objective.THROUGHPUT,
        gpu_memory_mb=None,
        thresholds=Thresholds(),
        selection=Selection(),
        settings=SolverSettings(1.5, 2, progress=seen.append),
        gpu_budget=6,
        targets=EXAMPLES / "targets.yaml",
        colocation=None,
    )
    packer.progress.INTERVAL_S, saved = 0.2, packer.progress.INTERVAL_S
    try:
        run_plan(request)
    finally:
        packer.progress.INTERVAL_S = saved
    assert {p.stage for p in seen} >= {"max-target-fraction, CP-SAT"}


def test_tables_fit_the_width_given_and_wide_keeps_one_line_per_row():
    request = PlanRequest(
        profiles=EXAMPLES / "profiles" / "small-16gb",
        objective=Objective.MIN_GPUS,
        gpu_memory_mb=None,
        thresholds=Thresholds(),
        selection=Selection(),
        settings=SolverSettings(5, 2),
        choose_points=True,
    )
    result = run_plan(request)
    narrow = plan_table(result.plan, result.problem, 100)
    assert max(len(line) for line in narrow.splitlines()) <= 100
    # At 80 columns the list wraps to its narrowest: one model per line, the longest name sets the width.
    gpu_table = plan_table(result.plan, result.problem, 80).split("\n\n")[0]
    assert max(len(line) for line in gpu_table.splitlines()) <= 80 + len("segmentation_mri_brain_tumor") - 24
    assert "segmentation_mri_hippocampus" in narrow
    wide = plan_table(result.plan, result.problem)
    assert len(wide.split("\n\n")[0].splitlines()) == 2 + result.plan.gpu_count
    assert max(len(line) for line in wide.splitlines()) > 100
