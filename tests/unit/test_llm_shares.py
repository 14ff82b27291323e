"""Memory shares written into LLM engines' knobs: vLLM's model.json, TensorRT-LLM's config parameters."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from google.protobuf import text_format
from llm_support import LLMS, SERVER_MB, llm_profile, write_llm_profile
from tritonclient.grpc import model_config_pb2

from cli import cli
from packer.deploy.shares import gpu_shares
from packer.plan import Gpu
from profiler import InputError

EXAMPLES = Path(__file__).resolve().parents[2] / "profiler" / "examples"
TARGETS = "llm_a: {tokens_per_s: 150, max_ttft_p99_ms: 300}\nllm_b: {throughput: 10}\nsleepy: 100\n"


def _llm_config(backend: str) -> str:
    return f"""# {backend} model, as its backend's examples write it
backend: "{backend}"
max_batch_size: 0
model_transaction_policy {{ decoupled: true }}
instance_group [ {{ kind: KIND_MODEL, count: 1 }} ]
"""


def _repository(root: Path, backends: dict[str, str]) -> Path:
    repo = root / "models"
    for model, backend in backends.items():
        (repo / model / "1").mkdir(parents=True)
        (repo / model / "config.pbtxt").write_text(_llm_config(backend))
        if backend == "vllm":
            engine = {"model": "facebook/opt-125m", "gpu_memory_utilization": 0.9, "enforce_eager": True}
            (repo / model / "1" / "model.json").write_text(json.dumps(engine))
    shutil.copytree(EXAMPLES / "sleepy", repo / "sleepy")
    return repo


def _write(tmp_path: Path, repo: Path):
    profile = write_llm_profile(tmp_path / "profile")
    targets = tmp_path / "targets.yaml"
    targets.write_text(TARGETS)
    out = tmp_path / "deploy"
    args = ["plan", "--profiles", str(profile), "--targets", str(targets), "--model-repository", str(repo)]
    result = CliRunner().invoke(cli, [*args, "--write-repositories", str(out)])
    return result, out


def test_written_vllm_gpu_memory_utilization_values_sum_under_one_per_gpu(tmp_path: Path):
    repo = _repository(tmp_path, {"llm_a": "vllm", "llm_b": "vllm"})
    result, out = _write(tmp_path, repo)
    assert result.exit_code == 0, result.output
    plan = json.loads((out / "plan.json").read_text())
    assert len(plan["gpus"]) >= 2
    for gpu in plan["gpus"]:
        written = {}
        for m in gpu["models"]:
            path = out / f"gpu{gpu['index']}" / m["name"] / "1" / "model.json"
            if m["name"] in LLMS:
                engine = json.loads(path.read_text())
                assert engine["model"] == "facebook/opt-125m" and engine["enforce_eager"] is True
                written[m["name"]] = engine["gpu_memory_utilization"]
                # The share the plan records is what was written (rounded up to 4 digits).
                assert written[m["name"]] == pytest.approx(m["memory_share_fraction"], abs=1e-4)
                weights, kv, _ = LLMS[m["name"]]
                assert written[m["name"]] >= (weights + kv * m["concurrency"]) / 16000
        classic = sum(m["memory_mb"] - SERVER_MB for m in gpu["models"] if m["name"] not in LLMS)
        assert sum(written.values()) + (SERVER_MB + classic) / 16000 < 1
        assert sum(written.values()) < 1
    # The source repository keeps the engine's default.
    assert json.loads((repo / "llm_a" / "1" / "model.json").read_text())["gpu_memory_utilization"] == 0.9
    assert "gpu_memory_utilization" in result.output


def test_tensorrt_llm_gets_its_kv_fraction_of_free_memory_and_a_token_cap(tmp_path: Path):
    repo = _repository(tmp_path, {"llm_a": "vllm", "llm_b": "tensorrtllm"})
    result, out = _write(tmp_path, repo)
    assert result.exit_code == 0, result.output
    plan = json.loads((out / "plan.json").read_text())
    for gpu in plan["gpus"]:
        for m in gpu["models"]:
            if m["name"] != "llm_b":
                continue
            text = (out / f"gpu{gpu['index']}" / "llm_b" / "config.pbtxt").read_text()
            assert text.startswith("# gpupack plan:")
            config = text_format.Parse(text, model_config_pb2.ModelConfig())
            weights, kv, _ = LLMS["llm_b"]
            kv_mb = kv * m["concurrency"]
            # Loaded last: the GPU's memory less everything else planned on it and its own weights.
            free = 16000 - (gpu["memory_mb"] - m["memory_share_mb"]) - weights
            fraction = float(config.parameters["kv_cache_free_gpu_mem_fraction"].string_value)
            assert fraction == pytest.approx(kv_mb / free, abs=1e-4) and fraction <= 1
            assert config.parameters["max_tokens_in_paged_kv_cache"].string_value == str(
                80 * m["concurrency"]
            )
            assert config.model_transaction_policy.decoupled


def test_a_share_that_cannot_fit_its_gpu_is_one_line():
    profile = llm_profile()
    points = (profile.points_for("llm_a")[3], profile.points_for("llm_b")[3])  # concurrency 8 each
    own = sum(p.weights_mb + 8 * p.kv_mb_per_sequence for p in points)
    gpu = Gpu(0, points, SERVER_MB + own, None, None, "default", None, 16000.0, None)
    assert gpu_shares(dataclasses.replace(gpu, memory_mb=SERVER_MB + own, gpu_memory_mb=20000.0))
    with pytest.raises(InputError, match=r"GPU 0: the memory shares .* not under 1"):
        gpu_shares(gpu)
