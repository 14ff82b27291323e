"""A plan written by `gpupack plan --write-repositories`, run as written: its own launch scripts,
every model answering (an ensemble and its step among them), then `gpupack validate` on it.

`sleepy` copies with a 50 ms service time have a known throughput (batch × 20 infer/s at any
concurrency); the profile below promises exactly that, so validation must find ≥ 0.9 of it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import tritonclient.http as httpclient
from click.testing import CliRunner
from profiler_support import EXAMPLES, echo, wait_ready, wait_until_gone

from cli import cli
from profiler.server.launcher import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SERVICE_TIME_MS = 50
ENSEMBLE = """name: "ens"
platform: "ensemble"
max_batch_size: 64
input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 16 ] } ]
output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 16 ] } ]
ensemble_scheduling { step [ { model_name: "identity" model_version: -1
  input_map { key: "INPUT0" value: "INPUT0" } output_map { key: "OUTPUT0" value: "OUTPUT0" } } ] }
"""
# model, batch, concurrency, throughput (infer/s), host memory (MB, server included): sleepy copies
# at their theory; the ensemble and identity are memory-heavy so that they need a "GPU" of their own.
PROFILE = [
    ("sleepy_a", 4, 2, 4 * 1000 / SERVICE_TIME_MS, 400),
    ("sleepy_b", 2, 1, 2 * 1000 / SERVICE_TIME_MS, 400),
    ("ens", 2, 1, 500.0, 600),
    ("identity", 2, 1, 500.0, 500),
]


def _repository(root: Path) -> Path:
    repo = root / "models"
    for name in ("sleepy_a", "sleepy_b"):
        shutil.copytree(EXAMPLES / "sleepy", repo / name)
        config = repo / name / "config.pbtxt"
        config.write_text(
            config.read_text().replace('string_value: "20"', f'string_value: "{SERVICE_TIME_MS}"')
        )
    shutil.copytree(EXAMPLES / "identity", repo / "identity")
    (repo / "ens" / "1").mkdir(parents=True)
    (repo / "ens" / "config.pbtxt").write_text(ENSEMBLE)
    return repo


def _profile(root: Path) -> Path:
    profile = root / "profile"
    profile.mkdir()
    rows = "".join(f"{m},{b},{c},{t},{mem}\n" for m, b, c, t, mem in PROFILE)
    header = "model,batch_size,concurrency,throughput_infer_per_sec,max_host_memory_mb\n"
    (profile / "profile.csv").write_text(header + rows)
    (profile / "server-only.csv").write_text("max_host_memory_mb\n100\n")
    (profile / "metadata.json").write_text(json.dumps({"device": "cpu", "gpu_memory_mb": 1000}))
    return profile


def _launch_all(deploy: Path, plan: dict) -> None:
    """Start every launch script as written, check each model answers, stop them with SIGTERM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUPACK")}
    children = {
        g["index"]: subprocess.Popen(
            ["bash", str(deploy / f"launch-gpu{g['index']}.sh")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for g in plan["gpus"]
    }  # fmt: skip
    try:
        for gpu in plan["gpus"]:
            url = next(e["http_url"] for e in plan["endpoints"] if e["gpu"] == gpu["index"])
            client = httpclient.InferenceServerClient(url.removeprefix("http://"))
            wait_ready(client, children[gpu["index"]])
            for model in gpu["models"]:
                echo(client, model["name"])
            client.close()
        for child in children.values():
            child.send_signal(signal.SIGTERM)
        codes = [child.wait(timeout=60) for child in children.values()]
    finally:
        for child in children.values():
            child.kill()
    assert codes == [143] * len(children)


def test_a_written_plan_runs_as_written_and_keeps_its_promise(tmp_path: Path):
    repo, profile, deploy = _repository(tmp_path), _profile(tmp_path), tmp_path / "deploy"
    base = free_port()
    written = CliRunner().invoke(
        cli,
        ["plan", "--profiles", str(profile), "--model-repository", str(repo),
         "--write-repositories", str(deploy), "--base-port", str(base)],
    )  # fmt: skip
    assert written.exit_code == 0, written.output
    plan = json.loads((deploy / "plan.json").read_text())
    hosts = {m["name"]: g["index"] for g in plan["gpus"] for m in g["models"]}
    assert hosts["ens"] == hosts["identity"]  # an ensemble runs with its step
    try:
        _launch_all(deploy, plan)
        validated = CliRunner().invoke(
            cli, ["validate", str(deploy), "--window", "1", "--warmup", "0.5", "--max-windows", "6", "--json"]
        )
    finally:
        left = wait_until_gone(deploy)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert not left, f"tritonserver processes outlived the test: {left}"
    result = json.loads(validated.stdout)
    ratios = {m["name"]: m["ratio"] for g in result["gpus"] for m in g["models"]}
    assert ratios["sleepy_a"] == pytest.approx(1.0, abs=0.1) and ratios["sleepy_b"] == pytest.approx(
        1.0, abs=0.1
    )
