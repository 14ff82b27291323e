"""`gpupack validate` on real servers: copies of `sleepy` on two or three planned "GPUs" of this CPU host.

`sleepy` serves one request at a time in a fixed service time (here 50 ms, so that the server's and
client's ~1 ms per request stay within a few %): theory promises batch × 1000 / 50 infer/s per copy,
whatever the concurrency, and each copy has its own instance, so copies on one server do not slow each
other down.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from profiler_support import BROKEN_MODEL, EXAMPLES, REPO, wait_until_gone

from cli import cli
from profiler.validation.report import VALIDATION_CSV, VALIDATION_JSON

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SERVICE_TIME_MS = 50
FAST = ("--window", "1", "--warmup", "0.5", "--max-windows", "6")
# (name, batch size, concurrency) per planned GPU
PLACEMENT = {0: [("sleepy_a", 4, 2), ("sleepy_b", 2, 1)], 1: [("sleepy_c", 1, 2)]}
GPU_KEYS = {
    "index",
    "promised_throughput",
    "measured_throughput",
    "ratio",
    "peak_memory_mb",
    "planned_memory_mb",
}
MODEL_KEYS = {
    "name",
    "batch_size",
    "concurrency",
    "promised_throughput",
    "measured_throughput",
    "ratio",
    "p50_ms",
}
MODEL_KEYS |= {"p99_ms"}


def theory(batch_size: int) -> float:
    """sleepy's throughput at any concurrency, infer/s."""
    return batch_size * 1000 / SERVICE_TIME_MS


def _sleepy_copy(repository: Path, name: str) -> None:
    shutil.copytree(EXAMPLES / "sleepy", repository / name)
    config = repository / name / "config.pbtxt"
    text = config.read_text().replace('string_value: "20"', f'string_value: "{SERVICE_TIME_MS}"')
    config.write_text(f'name: "{name}"\n{text}')


def write_plan(root: Path, placement: dict, promise: float = 1.0, broken_gpu: int | None = None) -> Path:
    """A plan directory as `plan --write-repositories` writes it; promises are ``promise`` × theory."""
    gpus = []
    for index, models in placement.items():
        repository = root / f"gpu{index}"
        for name, _, _ in models:
            _sleepy_copy(repository, name)
        gpus.append(
            {
                "index": index,
                "memory_mb": 500.0,
                "models": [
                    {"name": n, "batch_size": b, "concurrency": c, "throughput": promise * theory(b)}
                    for n, b, c in models
                ],
            }
        )
    if broken_gpu is not None:
        (root / f"gpu{broken_gpu}" / "broken" / "1").mkdir(parents=True)
        shutil.copy(EXAMPLES / "identity" / "config.pbtxt", root / f"gpu{broken_gpu}" / "broken")
        (root / f"gpu{broken_gpu}" / "broken" / "1" / "model.py").write_text(BROKEN_MODEL)
        gpu = {"index": broken_gpu, "models": [{"name": "broken", "batch_size": 1, "concurrency": 1}]}
        gpu["models"][0]["throughput"] = 100.0
        gpus.append(gpu)
    (root / "plan.json").write_text(
        json.dumps({"objective": "throughput", "gpu_count": len(gpus), "gpus": gpus})
    )
    return root


def validate(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["validate", *map(str, args)])


@pytest.fixture
def plan_root(tmp_path: Path):
    root = tmp_path / "plan"
    yield root
    left = wait_until_gone(root)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"tritonserver processes outlived the test: {left}"


def test_sleepy_copies_deliver_their_promise_on_two_gpus_validated_at_once(plan_root: Path):
    directory = write_plan(plan_root, PLACEMENT)
    result = validate(directory, "--all-at-once", "--json", *FAST)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    written = json.loads((directory / VALIDATION_JSON).read_text())
    assert printed == written and written["holds"] is True and written["mode"].startswith("all at once")
    assert [g["index"] for g in written["gpus"]] == [0, 1]
    for gpu in written["gpus"]:
        assert GPU_KEYS <= gpu.keys() and gpu["short"] is False and gpu["error"] == ""
        for model in gpu["models"]:
            assert MODEL_KEYS <= model.keys()
            assert model["promised_throughput"] == theory(model["batch_size"])
            assert 0.9 <= model["ratio"] <= 1.1, model  # within 10 % of the theory
            assert model["p50_ms"] >= SERVICE_TIME_MS * model["concurrency"] * 0.9
        assert gpu["max_host_memory_mb"] > 0  # the server's processes were sampled
    assert "[1/1] GPU 0: " in result.stderr and "; GPU 1: " in result.stderr and "ETA 0:00" in result.stderr
    rows = (directory / VALIDATION_CSV).read_text().splitlines()
    assert rows[0].startswith("gpu,name,batch_size,concurrency,promised_throughput,measured_throughput,ratio")
    assert [row.split(",")[1] for row in rows[1:]] == ["sleepy_a", "sleepy_b", "sleepy_c"]


def test_an_over_promised_gpu_and_a_gpu_whose_model_fails_to_load_fall_short_with_exit_1(plan_root: Path):
    directory = write_plan(plan_root, {0: PLACEMENT[0]}, broken_gpu=2)
    over = write_plan(plan_root.parent / "over", {1: PLACEMENT[1]}, promise=2.0)
    shutil.copytree(over / "gpu1", directory / "gpu1")
    plan = json.loads((directory / "plan.json").read_text())
    plan["gpus"].insert(1, json.loads((over / "plan.json").read_text())["gpus"][0])
    (directory / "plan.json").write_text(json.dumps(plan))

    result = validate(directory, "--one-at-a-time", *FAST)
    assert result.exit_code == 1, result.output
    assert "GPU 1, 2 fall short" in result.stdout and "one at a time on GPU 0" in result.stdout
    written = json.loads((directory / VALIDATION_JSON).read_text())
    assert written["holds"] is False and written["short_gpus"] == [1, 2]
    gpu0, gpu1, gpu2 = written["gpus"]
    assert gpu0["short"] is False and 0.9 <= gpu0["ratio"] <= 1.1
    assert gpu1["short"] is True and 0.45 <= gpu1["ratio"] <= 0.55  # delivers the theory, half the promise
    assert gpu2["load_failure"] is True and gpu2["measured_throughput"] == 0
    assert "failed to load 'broken'" in gpu2["error"] and "on purpose" in gpu2["error"]
    assert "SHORT" in result.stdout and "FAILED: tritonserver exited during start-up" in result.stdout


def test_sigterm_stops_the_validation_its_servers_and_keeps_what_finished(plan_root: Path):
    directory = write_plan(plan_root, PLACEMENT)
    command = [sys.executable, "-m", "cli", "validate", str(directory), "--one-at-a-time", *FAST]
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (directory / VALIDATION_JSON).exists() and time.monotonic() < deadline:
            assert child.poll() is None, child.communicate()
            time.sleep(0.1)
        child.send_signal(signal.SIGTERM)  # during GPU 1
        stdout, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 143, stdout + stderr
    assert wait_until_gone(directory) == []
    written = json.loads((directory / VALIDATION_JSON).read_text())
    assert written["interrupted"] is True and [g["index"] for g in written["gpus"]] == [0]
    assert "(interrupted)" in stdout


def _perf_analyzer() -> str | None:
    return os.environ.get("GPUPACK_TEST_PERF_ANALYZER") or shutil.which("perf_analyzer")


@pytest.mark.skipif(_perf_analyzer() is None, reason="no perf_analyzer (set GPUPACK_TEST_PERF_ANALYZER)")
def test_perf_analyzer_processes_in_parallel_measure_every_model_of_a_gpu(plan_root: Path):
    directory = write_plan(plan_root, {0: PLACEMENT[0]})
    args = ("--load-generator", "perf_analyzer", "--perf-analyzer", _perf_analyzer(), "--json", *FAST)
    result = validate(directory, *args)
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert (
        written["load_generator"].startswith("perf_analyzer")
        and "one process per model" in (written["load_generator"])
    )
    assert [(m["name"], 0.9 <= m["ratio"] <= 1.1) for m in written["gpus"][0]["models"]] == [
        ("sleepy_a", True),
        ("sleepy_b", True),
    ]
