"""The HTML report: it parses, every image it references exists and decodes, and the numbers behind
each figure are the plan's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_support import Page, read_report

from cli import cli

DATA = Path(__file__).resolve().parents[1] / "data" / "model-analyzer"
SMALL = Path(__file__).resolve().parents[2] / "examples" / "profiles" / "small-16gb"


def _plan(tmp_path: Path, *args: str) -> tuple[dict, dict, Page]:
    report, output = tmp_path / "report.html", tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["plan", *args, "--report", str(report), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "wrote the report" in result.stdout
    page, data = read_report(report)
    return json.loads(output.read_text()), data, page


def _check_gpu_bars(plan: dict, data: dict) -> None:
    assert [g["index"] for g in data["gpus"]] == [g["index"] for g in plan["gpus"]]
    for gpu, figure in zip(plan["gpus"], data["gpus"], strict=True):
        memory, util, mem_util = figure["bars"]
        assert memory["total_pct"] == pytest.approx(100 * gpu["memory_mb"] / gpu["gpu_memory_mb"], abs=1e-3)
        for bar, total in ((util, gpu["gpu_util_pct"]), (mem_util, gpu["mem_util_pct"])):
            assert bar["total_pct"] == (None if total is None else pytest.approx(total, abs=1e-3))
        for bar in figure["bars"]:
            assert bar["limit_pct"] == plan["limits_pct"].get(bar["resource"])
            if bar["total_pct"] is not None and bar["limit_pct"] is not None:
                stacked = bar["server_pct"] + sum(share for _, share in bar["shares"])
                assert stacked == pytest.approx(bar["total_pct"], abs=1e-3)
                assert [m for m, _ in bar["shares"]] == [m["name"] for m in gpu["models"]]


def test_plan_report_of_the_seed_example_draws_every_gpu_against_its_limits(tmp_path: Path):
    # The blog's Table 4: summed utilization alone (the co-location model: tests/unit/test_colocation.py).
    plan, data, page = _plan(tmp_path, "--objective", "throughput", "--no-colocation")
    _check_gpu_bars(plan, data)
    assert data["bound"] == {
        "goal": "min-gpus",
        "value": 6.0,
        "bound": 6.0,
        "optimal": True,
        "gpu_count": 6,
        "lower_bound": 6,
        "ffd_gpu_count": 6,
    }
    # The seed has no latencies: no throughput-latency figures, and the report says why.
    assert [i["data-file"].split("/")[1] for i in page.images] == [
        "bound.png",
        "fleet.png",
        *(f"gpu-{k}.png" for k in range(6)),
    ]
    assert "no p99 latency in the profile" in (tmp_path / "report.html").read_text()


def test_model_figures_mark_exactly_the_chosen_points_among_all_profiled_ones(tmp_path: Path):
    plan, data, page = _plan(tmp_path, "--profiles", str(SMALL), "--choose-points", "--time-limit", "5")
    assert len(page.images) == 2 + plan["gpu_count"] + 9
    for model, figure in zip(plan["models"], data["models"], strict=True):
        assert figure["model"] == model["name"]
        chosen = sorted((p["throughput"], p["latency_p99_ms"]) for p in model["points"])
        assert sorted((d["throughput"], d["latency_p99_ms"]) for d in figure["chosen"]) == chosen
        ((_, dots),) = figure["measured"]
        assert len(dots) == 3  # the synthetic profile's three points per model
        assert set(chosen) <= {(d["throughput"], d["latency_p99_ms"]) for d in dots}
    _check_gpu_bars(plan, data)


def test_report_command_adds_promised_against_measured_from_validation_json(tmp_path: Path):
    plan, _, _ = _plan(tmp_path, "--objective", "throughput")
    folder = tmp_path / "deployed"
    folder.mkdir()
    (folder / "plan.json").write_text(json.dumps(plan))
    validation = {
        "gpus": [
            {
                "index": g["index"],
                "promised_throughput": sum(m["throughput"] for m in g["models"]),
                "measured_throughput": 0.9 * sum(m["throughput"] for m in g["models"]),
                "ratio": 0.9,
                "models": [
                    {
                        "name": m["name"],
                        "promised_throughput": m["throughput"],
                        "measured_throughput": 0.9 * m["throughput"],
                        "ratio": 0.9,
                        "p50_ms": 1.0,
                        "p99_ms": 2.0,
                    }
                    for m in g["models"]
                ],
            }
            for g in plan["gpus"]
        ]
    }
    (folder / "validation.json").write_text(json.dumps(validation))
    out = tmp_path / "again" / "report.html"
    result = CliRunner().invoke(cli, ["report", str(folder), "--output", str(out)])
    assert result.exit_code == 0, result.output
    page, data = read_report(out)
    files = [i["data-file"].split("/")[1] for i in page.images]
    # No memory in this validation.json: no memory figure.
    assert files[-2:] == ["validation-models.png", "validation-gpus.png"]
    gpus = [
        [g["index"], None, g["promised_throughput"], g["measured_throughput"]] for g in validation["gpus"]
    ]
    models = [
        [g["index"], m["name"], m["promised_throughput"], m["measured_throughput"]]
        for g in validation["gpus"]
        for m in g["models"]
    ]
    promises = data["validation"]
    assert [[p["gpu"], p["model"], p["promised"], p["measured"]] for p in promises["gpus"]] == gpus
    assert [[p["gpu"], p["model"], p["promised"], p["measured"]] for p in promises["models"]] == models
    assert [p["ratio"] for p in promises["gpus"] + promises["models"]] == [pytest.approx(0.9)] * len(
        gpus + models
    )


def test_report_of_a_model_analyzer_plan_shows_memory_controller_utilization_as_not_measured(tmp_path: Path):
    sweep = DATA / "experiments-vgg19_libtorch"
    plan, data, _ = _plan(tmp_path, "--profiles", str(sweep), "--objective", "throughput", "--choose-points")
    ((gpu,),) = [data["gpus"]]
    assert gpu["bars"][2]["total_pct"] is None and gpu["bars"][2]["limit_pct"] is None
    _check_gpu_bars(plan, data)
    assert {d["model"]: len(d["measured"][0][1]) for d in data["models"]} == {
        "resnet50_libtorch": 506,
        "vgg19_libtorch": 506,
    }


def test_report_refuses_a_plan_whose_points_are_not_in_the_profiles_given(tmp_path: Path):
    _plan(tmp_path, "--objective", "throughput")
    other = DATA / "single-model-ckpt"
    args = ["report", str(tmp_path / "plan.json"), "--profiles", str(other), "-o", str(tmp_path / "r.html")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "is not in" in result.output and "--profiles" in result.output


def test_rewriting_a_report_replaces_it_and_leaves_no_temporary_files(tmp_path: Path):
    _plan(tmp_path, "--objective", "throughput")
    _plan(tmp_path, "--objective", "min-gpus")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "report.html", "report_files"]
    assert not list(tmp_path.rglob(".*"))


def test_report_of_a_file_that_is_not_a_plan_is_refused(tmp_path: Path):
    bad = tmp_path / "plan.json"
    bad.write_text('{"objective": "min-gpus"}')
    result = CliRunner().invoke(cli, ["report", str(bad), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "not a gpupack plan" in result.output
