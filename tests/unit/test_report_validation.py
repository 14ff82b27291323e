"""The report's validation figures: their numbers are the committed validation.json's, read by its owner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_support import read_report

from cli import cli
from packer.reports import load_plan, report_data
from profiler import read_profile

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "h200-2026-12-01-b"
PLAN_DIR = RESULTS / "plan-calibrated-2"
PROFILE = RESULTS / "profile"


def _committed() -> dict:
    return json.loads((PLAN_DIR / "validation.json").read_text())


def test_validation_figures_hold_the_committed_files_promises_ratios_verdicts_and_memory():
    plan, validation = load_plan(PLAN_DIR)
    data = report_data(plan.document, {"default": read_profile(PROFILE)}, validation).to_dict()["validation"]
    document = _committed()
    assert data["min_ratio"] == document["min_ratio"] == 0.9
    assert data["source"] == str(PLAN_DIR / "validation.json")
    gpus = [(g["index"], None, g["promised_throughput"], g["measured_throughput"]) for g in document["gpus"]]
    assert [(p["gpu"], p["model"], p["promised"], p["measured"]) for p in data["gpus"]] == gpus
    models = [
        (g["index"], m["name"], m["promised_throughput"], m["measured_throughput"])
        for g in document["gpus"]
        for m in g["models"]
    ]
    assert [(p["gpu"], p["model"], p["promised"], p["measured"]) for p in data["models"]] == models
    # The file's own ratios (rounded to 3 places) and verdicts agree with the owner's rule.
    recorded = [(g["ratio"], g["short"]) for g in document["gpus"]]
    recorded_models = [(m["ratio"], m["short"]) for g in document["gpus"] for m in g["models"]]
    for p, (ratio, short) in zip(data["gpus"] + data["models"], recorded + recorded_models, strict=True):
        assert p["ratio"] == pytest.approx(ratio, abs=1e-3)
        assert p["short"] is short
    memory = [(g["index"], g["planned_memory_mb"], g["peak_memory_mb"]) for g in document["gpus"]]
    assert [(m["gpu"], m["planned_mb"], m["peak_mb"]) for m in data["memory"]] == memory
    for m, g in zip(data["memory"], document["gpus"], strict=True):
        assert m["ratio"] == pytest.approx(g["memory_ratio"], abs=1e-3)
    assert len(data["models"]) == 9 and not any(p["short"] for p in data["models"] + data["gpus"])


def _report(tmp_path: Path, plan: Path, *args: str) -> tuple[object, dict, str]:
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(cli, ["report", str(plan), "--profiles", str(PROFILE), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    page, data = read_report(out)
    return page, data, out.read_text()


def test_report_of_the_committed_plan_directory_draws_its_validation(tmp_path: Path):
    page, data, _ = _report(tmp_path, PLAN_DIR)
    files = [i["data-file"].split("/")[1] for i in page.images]
    assert files[:2] == ["bound.png", "fleet.png"]
    assert files[-3:] == ["validation-models.png", "validation-gpus.png", "validation-memory.png"]
    assert len(data["validation"]["gpus"]) == 9


def test_report_draws_a_validation_named_with_validation_option(tmp_path: Path):
    plan = tmp_path / "plan.json"
    shutil.copy(PLAN_DIR / "plan.json", plan)
    _, without, _ = _report(tmp_path, plan)
    assert without["validation"] is None
    _, named, _ = _report(tmp_path, plan, "--validation", str(PLAN_DIR / "validation.json"))
    _, beside, _ = _report(tmp_path, PLAN_DIR)
    assert named["validation"] == beside["validation"]


def test_models_that_failed_or_fell_below_the_min_ratio_are_marked_short(tmp_path: Path):
    document = _committed()
    document["min_ratio"] = 0.97
    first, second = document["gpus"][0], document["gpus"][1]
    first["models"][0]["measured_throughput"] = None
    first["models"][0]["error"] = "inference failed"
    second["error"] = "the server did not start"
    validation = tmp_path / "validation.json"
    validation.write_text(json.dumps(document))
    _, data, html = _report(tmp_path, PLAN_DIR, "--validation", str(validation))
    ratios = {(p["gpu"], p["model"]): (p["ratio"], p["short"]) for p in data["validation"]["models"]}
    by_gpu = {p["gpu"]: p["short"] for p in data["validation"]["gpus"]}
    assert ratios[(0, "classification_resnet50_a")] == (0.0, True)  # failed: nothing measured
    assert by_gpu[0] and by_gpu[1]  # a failed model; a server that did not start
    below = {k for k, (ratio, short) in ratios.items() if ratio is not None and 0 < ratio < 0.97}
    assert below and all(ratios[k][1] for k in below)  # 0.96…: short at 0.97, though not at 0.9
    assert {k for k, (_, short) in ratios.items() if short} == below | {(0, "classification_resnet50_a")}
    assert data["validation"]["min_ratio"] == 0.97
    shorts = len(below) + 1
    assert f"{shorts} of 9 models (each on its GPU) and {sum(by_gpu.values())} of 9 GPUs fell short" in html
    assert "the worst, measured / promised: GPU 0 classification_resnet50_a (failed), GPU " in html


def test_report_refuses_a_validation_of_another_plan(tmp_path: Path):
    document = _committed()
    document["gpus"][0]["models"][0]["name"] = "some_other_model"
    validation = tmp_path / "validation.json"
    validation.write_text(json.dumps(document))
    args = ["report", str(PLAN_DIR), "--profiles", str(PROFILE), "--validation", str(validation)]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "GPU 0 ran some_other_model" in result.output and "another plan" in result.output
    assert not (tmp_path / "r.html").exists()


def test_report_refuses_a_validation_file_that_is_not_there(tmp_path: Path):
    missing = tmp_path / "nowhere.json"
    args = ["report", str(PLAN_DIR), "--profiles", str(PROFILE), "--validation", str(missing)]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "nowhere.json" in result.output
    assert "Traceback" not in result.output


def test_a_validation_interrupted_before_its_first_gpu_adds_no_figure(tmp_path: Path):
    document = {**_committed(), "gpus": [], "interrupted": True}
    validation = tmp_path / "validation.json"
    validation.write_text(json.dumps(document))
    page, data, _ = _report(tmp_path, PLAN_DIR, "--validation", str(validation))
    assert data["validation"]["models"] == [] and data["validation"]["gpus"] == []
    assert not [i for i in page.images if "validation" in i["data-file"]]
