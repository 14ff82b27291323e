"""`gpupack plan` beyond the blog through click's CliRunner: each option, the JSON, each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fleet_support import ab_points, write

from cli import cli

REPO = Path(__file__).resolve().parents[2]
FAST = ("--time-limit", "2", "--workers", "2")


def run(*args: str):
    return CliRunner().invoke(cli, ["plan", *FAST, *args])


def ok(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def refused(result, *fragments: str):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.fixture
def ab(tmp_path: Path) -> str:
    return str(write(tmp_path / "ab", ab_points()))


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    write(tmp_path / "small", ab_points())
    write(tmp_path / "big", ab_points(speed=2), gpu_memory_mb=2000)
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "gpu_types:\n"
        "  - {name: small, memory: 1000MB, cost_per_hour: 1.0, profile: small}\n"
        "  - {name: big, count: 1, cost_per_hour: 2.5, profile: big}\n"
    )
    return path


def test_plain_plan_json_sets_every_key_of_the_one_plan_record():
    data = ok()
    assert data["goal"] == "min-gpus" and data["objective_value"] == data["gpu_count"] == 4
    assert data["objective_bound"] == 4 and data["objective_gap"] == 0 and data["gpu_budget"] is None
    assert [m["replicas"] for m in data["models"]] == [1] * 9
    assert data["gpus"][0]["type"] == "default" and data["gpus"][0]["gpu_memory_mb"] == 16000
    assert data["gpus"][0]["models"][0]["instance_count"] == 1


def test_choose_points_reports_the_chosen_points(ab):
    data = ok("--profiles", ab, "--choose-points")
    assert data["goal"] == "min-gpus" and data["gpu_count"] == 1 and data["optimal"] is True
    chosen = {m["name"]: m["points"][0]["batch_size"] for m in data["models"]}
    assert chosen == {"A": 4, "B": 1}
    table = run("--profiles", ab, "--choose-points")
    assert "A (b4 c8)" in table.output and "POINTS (batch, concurrency)" in table.output
    assert "1 GPU, lower bound 1: optimal" in table.output


@pytest.mark.parametrize(
    ("name", "text"),
    [("targets.yaml", "A: {throughput: 50}\nB: 1\n"), ("targets.csv", "model,throughput\nA,50\nB,1\n")],
)
def test_targets_from_yaml_or_csv_place_replicas(ab, tmp_path, name, text):
    (tmp_path / name).write_text(text)
    # Summed utilization alone (the co-location model would promise a shared replica a little less).
    data = ok("--profiles", ab, "--choose-points", "--targets", str(tmp_path / name), "--no-colocation")
    a = next(m for m in data["models"] if m["name"] == "A")
    assert a["replicas"] == 2 and a["target"] == 50 and a["target_fraction"] == pytest.approx(1.2)
    assert data["gpu_count"] == 2 and data["min_target_fraction"] >= 1


def test_a_latency_bound_in_the_targets_file_is_respected(ab, tmp_path):
    (tmp_path / "t.yaml").write_text("A: {throughput: 25, max_latency_p99_ms: 100}\n")
    data = ok("--profiles", ab, "--choose-points", "--targets", str(tmp_path / "t.yaml"))
    a = next(m for m in data["models"] if m["name"] == "A")
    assert a["replicas"] == 3 and {p["latency_p99_ms"] for p in a["points"]} == {50}


def test_a_gpu_budget_maximizes_throughput(ab):
    # Summed utilization alone: the profiled throughputs add up (co-location: tests/unit/test_colocation.py).
    data = ok("--profiles", ab, "--objective", "throughput", "--gpus", "1", "--no-colocation")
    assert data["goal"] == "max-throughput" and data["gpu_budget"] == 1
    assert data["objective_value"] == pytest.approx(35) and data["optimal"] is True
    assert (
        "1 of 1 GPUs, total throughput 35.00 infer/s"
        in run("--profiles", ab, "--objective", "throughput", "--gpus", "1", "--no-colocation").output
    )


def test_a_fleet_minimizes_cost_or_count(fleet):
    data = ok("--fleet", str(fleet))
    assert data["goal"] == "min-cost" and data["total_cost_per_hour"] == pytest.approx(2.0)
    assert [g["type"] for g in data["gpus"]] == ["small", "small"]
    assert [g["type"] for g in ok("--fleet", str(fleet), "--minimize", "gpus")["gpus"]] == ["big"]
    table = run("--fleet", str(fleet)).output
    assert "TYPE" in table and "COST (/h)" in table and "cost 2.00/h, lower bound 2.00/h: optimal" in table


def test_rules_from_options(fleet, ab):
    assert [g["type"] for g in ok("--fleet", str(fleet), "--pin", "A=big")["gpus"]] == ["big"]
    assert ok("--profiles", ab, "--choose-points", "--apart", "A,B")["gpu_count"] == 2
    assert ok("--profiles", ab, "--choose-points", "--max-models-per-gpu", "1")["gpu_count"] == 2
    # 50 % headroom leaves 500 - 100 = 400 MB of room: A b1 and B b1 (300 MB each) no longer share.
    assert ok("--profiles", ab, "--choose-points", "--headroom", "50")["gpu_count"] == 2
    together = ok("--together", "classification_breast,segmentation_liver")
    hosts = {m["name"]: [p["gpu"] for p in m["points"]] for m in together["models"]}
    assert hosts["classification_breast"] == hosts["segmentation_liver"]


def test_rules_from_the_fleet_file_and_options_overriding_them(fleet):
    fleet.write_text(fleet.read_text() + "rules:\n  max_models_per_gpu: 1\n  apart: [[A, B]]\n")
    assert ok("--fleet", str(fleet))["gpu_count"] == 2
    data = ok("--fleet", str(fleet), "--minimize", "gpus", "--max-models-per-gpu", "2")
    assert data["gpu_count"] == 2  # apart still holds
    fleet.write_text(fleet.read_text().replace("  apart: [[A, B]]\n", ""))
    assert ok("--fleet", str(fleet), "--minimize", "gpus", "--max-models-per-gpu", "2")["gpu_count"] == 1


def test_the_example_fleet_and_targets_plan():
    data = ok("--fleet", str(REPO / "examples/fleet.yaml"), "--targets", str(REPO / "examples/targets.yaml"))
    assert data["min_target_fraction"] >= 1 and data["total_cost_per_hour"] > 0


# ---- bad input: one line, exit 2, nothing written -------------------------------------------------


def test_an_unknown_model_in_targets_is_refused_with_a_suggestion(tmp_path):
    (tmp_path / "t.yaml").write_text("classification_chst: 100\n")
    out = tmp_path / "plan.json"
    refused(
        run("--targets", str(tmp_path / "t.yaml"), "--output", str(out)),
        "unknown model 'classification_chst'",
        "did you mean 'classification_chest'?",
    )
    assert not out.exists()


def test_an_unknown_gpu_type_in_a_pin_is_refused(fleet):
    refused(run("--fleet", str(fleet), "--pin", "A=bgi"), "unknown GPU type 'bgi'", "did you mean 'big'?")


def test_contradictory_rules_are_refused():
    refused(
        run(
            "--together",
            "classification_breast,segmentation_liver",
            "--apart",
            "segmentation_liver,classification_breast",
        ),
        "contradictory rules",
    )


def test_a_pin_to_a_type_without_the_models_profile_is_refused(fleet, tmp_path):
    write(tmp_path / "big", ab_points(models=("A",)), gpu_memory_mb=2000)
    refused(run("--fleet", str(fleet), "--pin", "B=big"), "model 'B' cannot be placed (pinned to 'big')")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("gpu_types: [\n", ("not valid YAML at line",)),
        ("gpu_typs: []\n", ("expected a mapping with a non-empty list 'gpu_types'",)),
        (
            "gpu_types: [{name: s, profile: small, cost_per_hour: 1}]\nrule: {}\n",
            ("unknown key 'rule'", "did you mean 'rules'?"),
        ),
        (
            "gpu_types: [{name: s, profile: small, cost_per_hour: 1, cnt: 2}]\n",
            ("unknown key 'cnt'", "did you mean 'count'?"),
        ),
        ("gpu_types: [{name: s, profile: small}]\n", ("missing 'cost_per_hour'",)),
        ("gpu_types: [{name: s, profile: small, cost_per_hour: 1, memory: 16XB}]\n", ("is not a size like",)),
        (
            "gpu_types: [{name: s, profile: small, cost_per_hour: 1}]\nrules: {headroom: 5}\n",
            ("did you mean 'headroom_pct'?",),
        ),
        ("gpu_types: [{name: s, profile: nowhere, cost_per_hour: 1}]\n", ("no such file or directory",)),
    ],
)
def test_malformed_fleet_files_are_refused(fleet, text, fragments):
    fleet.write_text(text)
    refused(run("--fleet", str(fleet)), *fragments)


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("t.yaml", "A: {throughput: 5, max_latency_p99: 3}\n", "did you mean 'max_latency_p99_ms'?"),
        ("t.yaml", "A: fast\n", "expected a number, got 'fast'"),
        ("t.yaml", "A: -3\n", "throughput must be above 0"),
        ("t.yaml", "- A\n", "expected a mapping model: infer/s"),
        ("t.csv", "model,throughput\nA,fast\n", "row 1: throughput: expected a number"),
        ("t.csv", "model,thruput\nA,5\n", "expected a header model,throughput"),
    ],
)
def test_malformed_targets_are_refused(ab, tmp_path, name, text, fragment):
    (tmp_path / name).write_text(text)
    refused(run("--profiles", ab, "--targets", str(tmp_path / name)), fragment)


def test_an_unreachable_target_and_an_unmeetable_latency_bound_are_refused(fleet, tmp_path):
    (tmp_path / "t.yaml").write_text("A: 1000\n")
    refused(
        run("--fleet", str(fleet), "--pin", "A=big", "--targets", str(tmp_path / "t.yaml")), "is unreachable"
    )
    (tmp_path / "t.yaml").write_text("A: {throughput: 5, max_latency_p99_ms: 1}\n")
    refused(run("--fleet", str(fleet), "--targets", str(tmp_path / "t.yaml")), "no point with p99 ≤ 1 ms")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--gpus", "3"), "goes with --objective throughput"),
        (("--fleet", "f.yaml", "--profiles", "p"), "drop --profiles/--gpu-memory"),
        (("--minimize", "cost"), "of a --fleet"),
        (("--pin", "A=big"), "--pin names a GPU type of --fleet"),
        (("--fleet", "f.yaml", "--pin", "A"), "'A' is not MODEL=TYPE"),
        (("--together", "A"), "two or more different model names"),
        (("--apart", "A,A"), "two or more different model names"),
        (("--headroom", "100"), "at least 0 and below 100"),
        (("--max-models-per-gpu", "0"), "must be a whole number from 1 to"),
        (("--fleet", "/nonexistent/fleet.yaml"), "no such file"),
    ],
)
def test_bad_option_combinations_exit_2(args, fragment):
    refused(run(*args), fragment)
