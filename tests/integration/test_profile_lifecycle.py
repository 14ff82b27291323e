"""`gpupack profile` and the server's life: Ctrl-C and --resume, a server that can't start, remote mode,
perf_analyzer as the load generator."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from profiler_support import FAST, REPO, profile, profile_rows, wait_until_gone

from profiler.profiles.profile_io import read_profile
from profiler.profiles.schema import PROFILE_CSV
from profiler.server.install import find_tritonserver
from profiler.server.launcher import LocalServer, LocalServerSettings
from profiler.server.triton import TritonControl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_interrupted_sweep_keeps_finished_points_and_resume_measures_only_the_rest(
    repository: Path, tmp_path: Path
):
    output = tmp_path / "profile"
    args = ["--model-repository", repository, "--models", "sleepy,identity", "--concurrency", "1,2"]
    command = [sys.executable, "-m", "cli", "profile", *map(str, args), "--output", str(output), *FAST]
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (output / PROFILE_CSV).exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        child.send_signal(signal.SIGINT)  # what Ctrl-C sends
        stdout, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, stdout + stderr
    assert "interrupted: rerun with --resume" in stdout
    assert wait_until_gone(repository) == []  # the server was stopped, not orphaned
    kept = profile_rows(output)
    assert 1 <= len(kept) < 4

    refused = profile(*args, "--output", output, *FAST)
    assert refused.exit_code == 2 and "already holds a profile" in refused.stderr

    resumed = profile(*args, "--output", output, "--resume", *FAST)
    assert resumed.exit_code == 0, resumed.output
    assert f"{4 - len(kept)} points measured, 0 failed, {len(kept)} already in the output" in resumed.stdout
    rows = profile_rows(output)
    assert len(rows) == 4 and all(row in rows for row in kept)  # finished points untouched
    assert all(p.ok for p in read_profile(output).points)


def test_server_that_cannot_start_gives_one_line_error_and_exit_1(tmp_path: Path):
    # A real tritonserver binary copied away from its libraries: the loader refuses to start it.
    broken = tmp_path / "bin" / "tritonserver"
    broken.parent.mkdir()
    shutil.copy(find_tritonserver(), broken)
    (tmp_path / "backends").mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "identity").mkdir()
    result = profile(
        "--model-repository", tmp_path / "models", "--models", "identity", "--output", tmp_path / "out",
        "--triton-server", broken, "--backend-directory", tmp_path / "backends",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "tritonserver exited during start-up" in errors[0]
    assert "cannot open shared object file" in errors[0]
    assert "To fix: see the server log" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / PROFILE_CSV).exists()


def test_remote_mode_profiles_a_server_the_test_started_and_leaves_it_running(
    repository: Path, tmp_path: Path
):
    output = tmp_path / "profile"
    with LocalServer(LocalServerSettings(model_repository=repository)) as server:
        result = profile(
            "--triton-url", server.endpoints.grpc, "--metrics-url", server.endpoints.metrics,
            "--models", "sleepy", "--batch", "2", "--concurrency", "1,2", "--output", output, *FAST,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "remote mode" in result.stderr and "(it reports no GPU)" in result.stderr
        with TritonControl(server.endpoints.grpc) as control:
            assert control.is_ready()
            assert control.model_states()["sleepy"] != "READY"  # unloaded after its points
        assert server.process is not None and server.process.poll() is None
    written = read_profile(output)
    assert [p.concurrency for p in written.points] == [1, 2]
    assert all(p.ok and p.server_cpu_pct is None for p in written.points)  # not our processes to read
    assert written.metadata.notes.startswith("remote mode") and written.metadata.device == "cpu"


def _perf_analyzer() -> str | None:
    return os.environ.get("GPUPACK_TEST_PERF_ANALYZER") or shutil.which("perf_analyzer")


@pytest.mark.skipif(_perf_analyzer() is None, reason="no perf_analyzer (set GPUPACK_TEST_PERF_ANALYZER)")
def test_perf_analyzer_and_the_builtin_generator_agree_on_a_known_service_time(
    repository: Path, tmp_path: Path
):
    throughputs = {}
    for generator in ("builtin", "perf_analyzer"):
        output = tmp_path / generator
        result = profile(
            "--model-repository", repository, "--models", "sleepy", "--batch", "2", "--concurrency", "2",
            "--output", output, "--load-generator", generator, "--perf-analyzer", _perf_analyzer(),
            "--window", "1", "--warmup", "0.3",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        written = read_profile(output)
        assert written.metadata.load_generator.startswith(
            "perf_analyzer" if generator != "builtin" else "gpupack"
        )
        throughputs[generator] = written.points[0].throughput
    assert 0.9 <= throughputs["builtin"] / throughputs["perf_analyzer"] <= 1.1, throughputs
