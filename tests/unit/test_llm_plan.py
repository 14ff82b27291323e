"""Planning streaming (LLM) models: memory from weights + KV per sequence, token targets, TTFT/ITL bounds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm_support import LLMS, SERVER_MB, llm_point, write_llm_profile

from cli import cli
from packer.fleet_file import read_targets
from packer.inputs import TOKENS
from packer.resources import MEMORY, point_demand, streaming_memory_mb
from profiler import InputError


def _plan(tmp_path: Path, targets: str, *args: str):
    profile = write_llm_profile(tmp_path / "profile")
    path = tmp_path / "targets.yaml"
    path.write_text(targets)
    return CliRunner().invoke(cli, ["plan", "--profiles", str(profile), "--targets", str(path), *args])


TARGETS = """
llm_a: {tokens_per_s: 150, max_ttft_p99_ms: 300}
llm_b: {throughput: 10, max_itl_p99_ms: 35}
sleepy: 100
"""


def test_a_streaming_point_demands_its_weights_plus_kv_per_sequence_times_concurrency():
    point = llm_point("llm_a", 4)
    assert streaming_memory_mb(point) == 4000 + 4 * 500
    # The measured peak (50 MB above the fit) is not used, and the server is not subtracted twice.
    assert point_demand(MEMORY, point, SERVER_MB) == 6000


def test_a_request_rate_point_counts_the_sequences_littles_law_keeps_in_flight():
    point = llm_point("llm_b", 1)
    rated = type(point)(**{**point.__dict__, "concurrency": 0, "request_rate": 4.0, "throughput": 4.0})
    assert streaming_memory_mb(rated) == 3000 + 800 * 3  # ceil(4/s × 0.64 s)


def test_plan_packs_llms_beside_each_other_and_a_classic_model_with_their_memory_shares(tmp_path: Path):
    # Summed utilization alone lets all three share a GPU (the co-location model keeps llm_b apart).
    result = _plan(tmp_path, TARGETS, "--json", "--no-colocation")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    for gpu in plan["gpus"]:
        own = 0.0
        for m in gpu["models"]:
            if m["name"] in LLMS:
                weights, kv, _ = LLMS[m["name"]]
                assert m["memory_share_mb"] == weights + kv * m["concurrency"]
                assert m["memory_share_fraction"] == pytest.approx(m["memory_share_mb"] / 16000)
                own += m["memory_share_mb"]
            else:
                assert "memory_share_mb" not in m
                own += m["memory_mb"] - SERVER_MB
        assert gpu["memory_mb"] == pytest.approx(SERVER_MB + own)
        assert gpu["memory_mb"] <= 16000
    assert any(len({m["name"] for m in g["models"]}) == 3 for g in plan["gpus"])
    models = {m["name"]: m for m in plan["models"]}
    assert models["llm_a"]["target_unit"] == TOKENS and models["llm_a"]["tokens_per_s"] >= 150
    assert all(p["concurrency"] <= 3 for p in models["llm_a"]["points"])  # TTFT p99 150 + 40c ≤ 300
    assert models["llm_b"]["throughput"] >= 10 and models["llm_b"]["max_itl_p99_ms"] == 35
    assert all(p["concurrency"] <= 4 for p in models["llm_b"]["points"])  # ITL p99 30 + c ≤ 35
    assert "target_unit" not in models["sleepy"]


def test_plan_table_shows_token_columns_and_the_token_target(tmp_path: Path):
    result = _plan(tmp_path, TARGETS)
    assert result.exit_code == 0, result.output
    assert "TTFT P99 (ms, worst)" in result.output and "150 tokens/s" in result.output


def test_an_unreachable_itl_bound_is_one_line(tmp_path: Path):
    result = _plan(tmp_path, "llm_b: {tokens_per_s: 10, max_itl_p99_ms: 5}\n")
    assert result.exit_code == 2, result.output
    assert "no point with ITL p99 ≤ 5 ms (lowest ITL p99 31 ms)" in result.output
    assert "Traceback" not in result.output


def test_a_target_with_both_rates_is_refused(tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_text("llm_a: {throughput: 3, tokens_per_s: 40}\n")
    with pytest.raises(InputError, match="give one of 'throughput'.*got throughput and tokens_per_s"):
        read_targets(path)


def test_token_targets_read_from_csv(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("model,tokens_per_s,max_ttft_p99_ms,max_itl_p99_ms\nllm_a,150,300,40\n")
    (target,) = read_targets(path)
    assert (target.unit, target.throughput, target.max_ttft_p99_ms, target.max_itl_p99_ms) == (
        TOKENS,
        150,
        300,
        40,
    )


def test_a_gpu_measured_streaming_model_gets_the_measured_memory_margin_on_weights_and_kv():
    import dataclasses

    from llm_support import llm_profile

    from packer.inputs import MEASURED_MEMORY_MARGIN, with_memory_margin

    profile = llm_profile()
    measured = dataclasses.replace(
        profile, metadata=dataclasses.replace(profile.metadata, gpu_reserved_memory_mb=500.0)
    )
    point = with_memory_margin(measured).points_for("llm_a")[0]
    assert point.weights_mb == pytest.approx(4000 * (1 + MEASURED_MEMORY_MARGIN))
    assert point.kv_mb_per_sequence == pytest.approx(500 * (1 + MEASURED_MEMORY_MARGIN))
    assert with_memory_margin(profile).points_for("llm_a")[0].weights_mb == 4000  # synthetic: as written
