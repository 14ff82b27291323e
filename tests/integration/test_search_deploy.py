"""Search, plan, deploy, validate: the whole path of issue 21 on a real tritonserver on this CPU host.

`batched_sleeper` (profiler/examples) takes S ms per *execute call* whatever the requests in it, and
holds 64 MB per instance; here S = 100 ms and max_batch_size 4. At batch 1, concurrency 4, theory (its
config.pbtxt) gives: without the dynamic batcher 10 infer/s per instance (p99 400 ms for 1 instance,
200 ms for 2); with it, one call carries the 4 requests: 40 infer/s (p99 ~110 ms), for 1 instance or
2 (the load is the bound). A target of 30 infer/s under a 250 ms p99 is met by one replica of a
batcher variant only (no variant without the batcher reaches 30 infer/s). The quick search finds
those variants, the plan chooses one, the written config.pbtxt serves it under the model's own name,
and `gpupack validate` measures that deployed variant within 10 % of what the plan promised.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner
from google.protobuf import text_format
from profiler_support import EXAMPLES, wait_until_gone
from tritonclient.grpc import model_config_pb2 as mc

from cli import cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

MODEL = "batched_sleeper"
SERVICE_MS = 100
QUEUE_DELAY_US = 10_000
# Short windows keep the test near a minute on a loaded 2-core host.
FAST = ("--window", "0.5", "--warmup", "0.3", "--max-windows", "6")
TARGETS = f"{MODEL}: {{throughput: 30, max_latency_p99_ms: 250}}\n"


def _repository(root: Path) -> Path:
    repo = root / "models"
    shutil.copytree(EXAMPLES / MODEL, repo / MODEL)
    config = repo / MODEL / "config.pbtxt"
    config.write_text(config.read_text().replace('string_value: "40"', f'string_value: "{SERVICE_MS}"'))
    return repo


def test_searched_variant_is_planned_written_under_its_models_name_and_keeps_its_promise(tmp_path: Path):
    repo, search, deploy = _repository(tmp_path), tmp_path / "search", tmp_path / "deploy"
    targets = tmp_path / "targets.yaml"
    targets.write_text(TARGETS)
    runner = CliRunner()
    searched = runner.invoke(
        cli,
        ["profile", "--search", "quick", "--model-repository", str(repo), "--models", MODEL,
         "--batch", "1", "--concurrency", "4", "--max-instances", "2",
         "--queue-delays-us", str(QUEUE_DELAY_US), "--targets", str(targets), "--output", str(search),
         "--no-reload-per-batch", *FAST],
    )  # fmt: skip
    assert not wait_until_gone(search / "variants")
    assert searched.exit_code == 0, searched.output
    assert f"{MODEL}: best under p99 250 ms is {MODEL}_config_" in searched.output

    planned = runner.invoke(
        cli,
        ["plan", "--profiles", str(search), "--gpu-memory", "1GB", "--choose-points",
         "--targets", str(targets), "--model-repository", str(repo), "--write-repositories", str(deploy)],
    )  # fmt: skip
    assert planned.exit_code == 0, planned.output
    plan = json.loads((deploy / "plan.json").read_text())
    assert len(plan["gpus"]) == 1
    chosen = plan["gpus"][0]["models"][0]
    text = (deploy / "gpu0" / MODEL / "config.pbtxt").read_text()
    config = text_format.Parse(text, mc.ModelConfig())
    assert config.name == MODEL  # clients keep calling it by name
    assert config.instance_group[0].count == chosen["instance_count"]
    assert config.dynamic_batching.max_queue_delay_microseconds == QUEUE_DELAY_US
    assert config.max_batch_size == 4 and f"config variant {chosen['variant']}" in text.splitlines()[0]
    assert "# CPU, numpy" in text  # the source config's comments kept

    try:
        validated = runner.invoke(cli, ["validate", str(deploy), "--json", *FAST])
    finally:
        left = wait_until_gone(deploy)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert not left, f"tritonserver processes outlived the test: {left}"
    assert validated.exit_code == 0, validated.output
    result = json.loads(validated.stdout)
    [model] = [m for g in result["gpus"] for m in g["models"]]
    assert model["name"] == MODEL and model["ratio"] == pytest.approx(1.0, abs=0.1)
    assert chosen["throughput"] >= 30 * 0.95  # the batcher variant, not one without it
