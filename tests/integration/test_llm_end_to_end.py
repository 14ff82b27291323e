"""LLMs end to end on a real tritonserver: two streaming models and a classic one profiled, planned
with token targets, written with their memory shares, served and validated.

llm_a and llm_b are copies of llm_sleeper (16 prompt tokens, 8 output tokens: TTFT 52 ms, ITL 30 ms,
request latency 262 ms, 30.5 tokens/s per sequence in flight); sleepy is the classic model. On this
CPU host memory is host memory: each streaming model's share is its measured weights plus its memory
per sequence (16 MB by theory) times its planned concurrency.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from profiler_support import EXAMPLES

from cli import cli
from profiler.profiles.profile_io import read_profile

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TOKENS = ("--input-tokens", "16", "--output-tokens", "8")
TARGETS = """
llm_a: {tokens_per_s: 100, max_ttft_p99_ms: 100, max_itl_p99_ms: 45}
llm_b: {throughput: 7}
sleepy: 40
"""
PER_SEQUENCE_TOKENS_S = 8 / 0.262


def _gpupack(*args: str | Path):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_two_streaming_models_and_a_classic_one_planned_written_and_validated(
    repository: Path, tmp_path: Path
):
    for name in ("llm_a", "llm_b"):
        shutil.copytree(EXAMPLES / "llm_sleeper", repository / name)
    llm, classic, merged = tmp_path / "llm", tmp_path / "classic", tmp_path / "profile"
    out = _gpupack(
        "profile", "--model-repository", repository, "--models", "llm_a,llm_b", *TOKENS,
        "--concurrency", "1,2,4", "--duration", "2", "--warmup", "0.5", "-o", llm,
    )  # fmt: skip
    assert "TTFT P99 (MS)" in out.output and "KV PER SEQUENCE (MB)" in out.output
    _gpupack(
        "profile", "--model-repository", repository, "--models", "sleepy", "--window", "1", "--warmup", "0.5",
        "-o", classic,
    )  # fmt: skip
    _gpupack("profile", "merge", merged, llm, classic)
    targets = tmp_path / "targets.yaml"
    targets.write_text(TARGETS)
    deploy = tmp_path / "deploy"
    _gpupack(
        "plan", "--profiles", merged, "--targets", targets, "--gpu-memory", "300MB",
        "--model-repository", repository, "--write-repositories", deploy,
    )  # fmt: skip
    plan = json.loads((deploy / "plan.json").read_text())
    placed = [m for g in plan["gpus"] for m in g["models"]]
    assert {m["name"] for m in placed} == {"llm_a", "llm_b", "sleepy"}
    profiled = {p.model: p for p in read_profile(merged).points}
    for m in placed:
        if m["name"] == "sleepy":
            assert "memory_share_mb" not in m
            continue
        point = profiled[m["name"]]
        assert point.kv_mb_per_sequence == pytest.approx(16, rel=0.1)
        # The share: weights + memory per sequence x planned concurrency, of the 300 MB "GPU".
        share = point.weights_mb + point.kv_mb_per_sequence * m["concurrency"]
        assert m["memory_share_mb"] == pytest.approx(share, abs=1e-3)
        assert m["memory_share_fraction"] == pytest.approx(share / 300, abs=1e-5)
        assert m["tokens_per_s"] == pytest.approx(m["concurrency"] * PER_SEQUENCE_TOKENS_S, rel=0.1)
    models = {m["name"]: m for m in plan["models"]}
    assert models["llm_a"]["target_unit"] == "tokens/s" and models["llm_a"]["tokens_per_s"] >= 100
    assert (deploy / "launch-gpu0.sh").exists()

    result = CliRunner().invoke(cli, ["validate", str(deploy), "--window", "1", "--warmup", "0.5"])
    assert result.exit_code == 0, result.output
    assert "PROMISED (TOKENS/S)" in result.output and "the plan holds" in result.output
    validation = json.loads((deploy / "validation.json").read_text())
    checked = [m for g in validation["gpus"] for m in g["models"]]
    streaming = [m for m in checked if m["name"] != "sleepy"]
    assert len(streaming) == len(models["llm_a"]["points"]) + len(models["llm_b"]["points"])
    for m in streaming:
        assert m["tokens_ratio"] == pytest.approx(1.0, abs=0.1), m
        assert m["ttft_p99_ms"] == pytest.approx(52, rel=0.5) and m["itl_p99_ms"] == pytest.approx(
            30, rel=0.3
        )
    assert all(not m["short"] for m in checked)
