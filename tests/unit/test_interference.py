"""--interference: slowdowns measured by `gpupack validate` make a re-plan keep its promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from packer.interference import NO_SHARING, read_interference
from profiler import InputError


def validation(
    path: Path, gpus: list[list[tuple[str, float, float]]], planned_util: list[float | None] | None = None
) -> Path:
    data = {
        "gpus": [
            {
                "index": k,
                "planned_gpu_utilization_pct": (planned_util or [None] * len(gpus))[k],
                "models": [
                    {"name": n, "promised_throughput": p, "measured_throughput": m} for n, p, m in models
                ],
            }
            for k, models in enumerate(gpus)
        ]
    }
    path.write_text(json.dumps(data))
    return path


def test_slowdowns_come_from_shared_gpus_only_and_the_worst_run_counts(tmp_path: Path):
    first = validation(tmp_path / "a.json", [[("A", 100, 70), ("B", 50, 55)], [("C", 10, 5)]])
    second = validation(tmp_path / "b.json", [[("A", 100, 80), ("D", 20, 0)]])
    slowdowns = read_interference([first, second]).slowdowns
    assert slowdowns == {"A": pytest.approx(100 / 70, abs=1e-3), "B": 1.0, "D": NO_SHARING}


def test_an_oversubscribed_gpu_charges_only_what_was_lost_beyond_its_time_share(tmp_path: Path):
    # Planned at 500 %: each model can at best deliver 1/5 of its promise. A delivered 1/6 (slowdown
    # 1.2 beyond the share), B its full share (1); on a GPU planned under 100 % the raw ratio counts.
    over = validation(tmp_path / "a.json", [[("A", 600, 100), ("B", 500, 100)]], [500.0])
    under = validation(tmp_path / "b.json", [[("C", 100, 80), ("D", 100, 100)]], [90.0])
    assert read_interference([over, under]).slowdowns == {
        "A": pytest.approx(1.2),
        "B": 1.0,
        "C": pytest.approx(1.25),
        "D": 1.0,
    }


def test_groups_that_fell_short_within_capacity_are_kept_apart_and_no_others(tmp_path: Path):
    runs = validation(
        tmp_path / "a.json",
        [
            [("A", 100, 85), ("B", 100, 100)],  # short at 90 % planned: kept apart
            [("C", 100, 95), ("D", 100, 92)],  # held
            [("E", 100, 10), ("F", 100, 10)],  # short, but planned at 500 %: oversubscribed, not a verdict
            [("G", 100, 50)],  # alone
        ],
        [90.0, 95.0, 500.0, 60.0],
    )
    assert read_interference([runs, runs]).apart == (("A", "B"),)
    assert read_interference([runs], known=["A", "C"]).apart == ()  # B is not being planned


def test_a_broken_validation_file_is_refused_by_name(tmp_path: Path):
    bad = tmp_path / "v.json"
    bad.write_text('{"gpus": [{"models": [{"name": "A", "promised_throughput": "fast"}, {"name": "B"}]}]}')
    with pytest.raises(InputError, match=r"v.json: gpus\[0\].models\[0\].promised_throughput"):
        read_interference([bad])


def plan_json(*args: str) -> dict:
    # Summed utilization alone, as the seed's plans share GPUs then (co-location: test_colocation.py).
    result = CliRunner().invoke(
        cli, ["plan", "--objective", "throughput", "--no-colocation", "--json", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_measured_slowdown_moves_models_apart_in_the_replan(tmp_path: Path):
    before = plan_json()
    shared = next(g for g in before["gpus"] if len(g["models"]) == 2)
    a, b = (m["name"] for m in shared["models"])
    slow = validation(
        tmp_path / "validation.json",
        [
            [
                (a, shared["models"][0]["throughput"], 0.7 * shared["models"][0]["throughput"]),
                (b, shared["models"][1]["throughput"], shared["models"][1]["throughput"]),
            ]
        ],
    )
    after = plan_json("--interference", str(slow))
    hosts = {m["name"]: g["index"] for g in after["gpus"] for m in g["models"]}
    assert hosts[a] != hosts[b]
    assert after["gpu_count"] >= before["gpu_count"]
    inflated = next(m for g in after["gpus"] for m in g["models"] if m["name"] == a)
    assert inflated["gpu_util_pct"] == shared["models"][0]["gpu_util_pct"]  # the profile is reported as is


def test_a_pair_measured_short_is_not_planned_together_again_even_when_its_slowdowns_fit(tmp_path: Path):
    before = plan_json()
    shared = next(g for g in before["gpus"] if len(g["models"]) == 2)
    (a, pa), (b, pb) = ((m["name"], m["throughput"]) for m in shared["models"])
    slightly = validation(tmp_path / "validation.json", [[(a, pa, 0.89 * pa), (b, pb, 0.89 * pb)]], [95.0])
    result = CliRunner().invoke(
        cli,
        ["plan", "--objective", "throughput", "--no-colocation", "--interference", str(slightly), "--json"],
    )
    assert result.exit_code == 0, result.output
    after = json.loads(result.output)
    hosts = {m["name"]: g["index"] for g in after["gpus"] for m in g["models"]}
    assert hosts[a] != hosts[b]
    assert f"kept apart, measured short together (--interference): {a}, {b}" in after["notes"]


def test_interference_with_min_gpus_is_refused(tmp_path: Path):
    slow = validation(tmp_path / "v.json", [[("A", 1, 1), ("B", 1, 1)]])
    result = CliRunner().invoke(cli, ["plan", "--interference", str(slow)])
    assert result.exit_code == 2 and "apply to --objective throughput" not in result.output
    assert "--interference applies to --objective throughput" in result.output
