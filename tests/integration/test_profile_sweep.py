"""`gpupack profile` against a real tritonserver: what a sweep measures and writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from profiler_support import EXAMPLES, FAST, profile

from cli import cli
from profiler.profiles.profile_io import read_profile

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _service_time_ms() -> float:
    config = (EXAMPLES / "sleepy" / "config.pbtxt").read_text()
    return float(re.search(r'"service_time_ms", value: \{ string_value: "([0-9.]+)"', config).group(1))


def test_sweep_of_two_models_writes_a_complete_profile_that_plan_accepts(repository: Path, tmp_path: Path):
    output = tmp_path / "profile"
    result = profile(
        "--model-repository", repository, "--models", "identity,sleepy",
        "--batch", "1,2", "--concurrency", "1,2", "--output", output, *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "THROUGHPUT (INFER/S)" in result.stdout
    assert "8 points measured, 0 failed" in result.stdout
    assert "no GPU readings" in result.stderr  # said once, on this host without NVML
    assert result.stderr.count("no GPU readings") == 1
    assert re.search(r"\[8/8\] sleepy batch 2 concurrency 2: .* ETA 0:00", result.stderr)

    written = read_profile(output)
    keys = [(p.model, p.batch_size, p.concurrency) for p in written.points]
    assert keys == [(m, b, c) for m in ("identity", "sleepy") for b in (1, 2) for c in (1, 2)]
    for point in written.points:
        assert point.ok and point.throughput > 0 and point.instance_count == 1
        latencies = [point.latency_p50_ms, point.latency_p90_ms, point.latency_p95_ms, point.latency_p99_ms]
        assert latencies == sorted(latencies) and latencies[0] > 0
        assert point.host_memory_mb > 0 and point.server_cpu_pct is not None
        assert point.memory_mb is None and point.gpu_util_pct is None  # no NVML: GPU columns empty
    assert written.server.host_memory_mb > 0
    meta = written.metadata
    assert meta.device == "cpu" and meta.triton_version == "2.51.0" and meta.date
    assert meta.load_generator.startswith("gpupack built-in")
    log = (output / "tritonserver.log").read_text()
    # Each batch size from a fresh load (--reload-per-batch, the default): two loads per model.
    assert log.count("successfully loaded 'identity'") == 2 and log.count("successfully loaded 'sleepy'") == 2
    assert "each batch size from a fresh load" in meta.notes

    plan = CliRunner().invoke(cli, ["plan", "--profiles", str(output), "--gpu-memory", "16GB", "--json"])
    assert plan.exit_code == 0, plan.output
    assert {m["name"] for gpu in json.loads(plan.stdout)["gpus"] for m in gpu["models"]} == {
        "identity",
        "sleepy",
    }


def test_known_service_time_model_matches_theory_and_concurrency_is_honoured(
    repository: Path, tmp_path: Path
):
    # sleepy serves one request at a time in exactly S ms, whatever its batch size, so with c requests
    # in flight: throughput = batch * 1000 / S infer/s and latency = c * S ms. The client and server
    # add their overhead on top (~1 ms per request here): tolerances -25 % / +5 % on throughput (it can
    # never beat the theory), and latency between -5 % and +25 % + 10 ms.
    service_ms = _service_time_ms()
    output = tmp_path / "profile"
    result = profile(
        "--model-repository", repository, "--models", "sleepy", "--batch", "1,4", "--concurrency", "1,4",
        "--output", output, "--window", "1", "--warmup", "0.3", "--max-windows", "6", "--no-reload-per-batch",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (output / "tritonserver.log").read_text().count("successfully loaded 'sleepy'") == 1
    points = {(p.batch_size, p.concurrency): p for p in read_profile(output).points}
    for (batch, concurrency), point in points.items():
        theory = batch * 1000 / service_ms
        assert 0.75 * theory <= point.throughput <= 1.05 * theory, (batch, concurrency, point.throughput)
        latency = concurrency * service_ms
        assert 0.95 * latency <= point.latency_p50_ms <= 1.25 * latency + 10, (batch, concurrency, point)
        assert point.stable
    for batch in (1, 4):
        assert points[(batch, 4)].latency_p50_ms > 3 * points[(batch, 1)].latency_p50_ms


def test_model_that_fails_to_load_is_recorded_and_the_sweep_goes_on(repository: Path, tmp_path: Path):
    output = tmp_path / "profile"
    result = profile(
        "--model-repository", repository, "--models", "broken,identity", "--concurrency", "1,2",
        "--output", output, *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 points measured, 2 failed" in result.stdout
    points = read_profile(output).points
    broken = [p for p in points if p.model == "broken"]
    assert len(broken) == 2
    for point in broken:
        assert point.throughput is None and not point.stable
        assert "failed to load" in point.error and "fails to load on purpose" in point.error
    assert all(p.ok for p in points if p.model == "identity")

    only_broken = profile(
        "--model-repository", repository, "--models", "broken", "--output", tmp_path / "only-broken", *FAST
    )
    assert only_broken.exit_code == 1, only_broken.output  # every point failed


def test_dynamic_dims_need_a_shape_and_work_with_one(repository: Path, tmp_path: Path):
    refused = profile(
        "--model-repository", repository, "--models", "dynamic", "--output", tmp_path / "a", *FAST
    )
    assert refused.exit_code == 2, refused.output
    assert "dynamic dims [-1]" in refused.stderr and "--shape INPUT0:D" in refused.stderr
    assert "Traceback" not in refused.output

    output = tmp_path / "b"
    result = profile(
        "--model-repository", repository, "--models", "dynamic", "--batch", "2", "--shape", "INPUT0:8",
        "--output", output, *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_profile(output).points[0].ok


STUBBORN_FINALIZE = """

    def finalize(self):
        import pathlib
        import time

        marker = pathlib.Path(__file__).with_name("hung-once")
        if not marker.exists():  # the first unload never finishes; later ones do
            marker.touch()
            time.sleep(600)
"""


def test_a_reload_whose_unload_hangs_restarts_our_server_and_the_sweep_goes_on(
    repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import profiler.measure.sweep

    monkeypatch.setattr(profiler.measure.sweep, "RELOAD_UNLOAD_S", 2.0)
    model = repository / "identity" / "1" / "model.py"
    model.write_text(model.read_text() + STUBBORN_FINALIZE)
    output = tmp_path / "profile"
    result = profile(
        "--model-repository", repository, "--models", "identity", "--batch", "1,2", "--output", output, *FAST
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 points measured, 0 failed" in result.stdout
    assert "still loaded 2 s after the unload request; restarting tritonserver" in result.stderr
    assert [(p.batch_size, p.ok) for p in read_profile(output).points] == [(1, True), (2, True)]
