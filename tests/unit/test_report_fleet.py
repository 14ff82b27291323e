"""The fleet overview: one figure for every GPU, and per-GPU figures only up to PER_GPU_FIGURES_MAX GPUs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_support import read_report

from cli import cli
from packer.commands.report import report
from packer.reports.figures import PER_MODEL_FIGURES_MAX
from packer.reports.fleet import PER_GPU_FIGURES_MAX
from packer.testing.synthetic import seed_like_fleet
from profiler.profiles.profile_io import write_profile

# Seed-like models on 16 GB GPUs: about 2.6 models a GPU, so this many make a fleet above the threshold.
MODELS = 120


def _plan_report(tmp_path: Path, *args: str) -> tuple[dict, object, dict, str]:
    report, output = tmp_path / "report.html", tmp_path / "plan.json"
    result = CliRunner().invoke(
        cli, ["plan", *args, "--time-limit", "5", "-q", "--report", str(report), "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    page, data = read_report(report)
    return json.loads(output.read_text()), page, data, report.read_text()


def _check_fills(plan: dict, fleet: dict) -> None:
    assert fleet["gpus"] == [g["index"] for g in plan["gpus"]]
    assert fleet["models_per_gpu"] == [len(g["models"]) for g in plan["gpus"]]
    assert fleet["types"] == [["default", plan["gpu_count"]]]
    memory, util, mem_util = fleet["fills"]
    full = [pytest.approx(100 * g["memory_mb"] / g["gpu_memory_mb"]) for g in plan["gpus"]]
    assert memory["fill_pct"] == full
    assert util["fill_pct"] == [g["gpu_util_pct"] for g in plan["gpus"]]
    assert mem_util["fill_pct"] == [g["mem_util_pct"] for g in plan["gpus"]]
    for fill in fleet["fills"]:
        assert fill["limit_pct"] == plan["limits_pct"].get(fill["resource"])


def test_a_fleet_above_the_threshold_gets_one_overview_and_no_per_gpu_figures(tmp_path: Path):
    profiles = write_profile(seed_like_fleet(MODELS, seed=3), tmp_path / "fleet").parent
    plan, page, data, html = _plan_report(tmp_path, "--profiles", str(profiles), "--gpu-memory", "16GB")
    assert plan["gpu_count"] > PER_GPU_FIGURES_MAX
    assert [i["data-file"].split("/")[1] for i in page.images] == ["bound.png", "fleet.png"]
    assert data["gpus"] == [] and data["models"] == []
    _check_fills(plan, data["fleet"])
    assert f"per-GPU figures left out: {plan['gpu_count']} GPUs, more than {PER_GPU_FIGURES_MAX}" in html
    assert f"per-model figures left out: {MODELS} models" in html


def test_a_small_fleet_gets_the_overview_and_a_figure_per_gpu(tmp_path: Path):
    plan, page, data, html = _plan_report(tmp_path, "--objective", "throughput", "--max-gpu-util", "90")
    files = [i["data-file"].split("/")[1] for i in page.images]
    assert files == ["bound.png", "fleet.png", *(f"gpu-{g['index']}.png" for g in plan["gpus"])]
    assert len(data["gpus"]) == plan["gpu_count"]
    _check_fills(plan, data["fleet"])
    assert data["fleet"]["fills"][1]["limit_pct"] == 90
    assert "left out" not in html


def test_report_help_states_the_thresholds_the_report_uses():
    help_text = " ".join(report.help.split())
    assert f"(up to {PER_GPU_FIGURES_MAX} GPUs, {PER_MODEL_FIGURES_MAX} models:" in help_text
