"""`gpupack profile` when things go wrong, against a real tritonserver: a second run on the same output,
a model that hangs or whose stub dies, a server killed mid-sweep, signals during start-up and during
the sweep, gpupack itself killed, a request too large to send.

The repository fixture checks that no server or stub process outlives any of these.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from profiler_support import EXAMPLES, FAST, REPO, profile, profile_rows, servers_of, wait_until_gone

from profiler.base.files import lock_path
from profiler.profiles.profile_io import read_profile
from profiler.profiles.schema import PROFILE_CSV

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

HANG_MODEL = """
import time

class TritonPythonModel:
    def execute(self, requests):
        time.sleep(3600)
"""
CRASH_MODEL = """
import os

class TritonPythonModel:
    def execute(self, requests):
        os._exit(3)
"""


def _add_model(repository: Path, name: str, code: str) -> None:
    (repository / name / "1").mkdir(parents=True)
    shutil.copy(EXAMPLES / "sleepy" / "config.pbtxt", repository / name)
    (repository / name / "1" / "model.py").write_text(code)


def _start(*args: str | Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "cli", "profile", *map(str, args)]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, child: subprocess.Popen[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition(), f"gave up waiting (gpupack exit code {child.poll()})"


def _temp_dirs_of(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"gpupack-triton-{pid}-*"))


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _server_pid(repository: Path) -> int:
    for pid in servers_of(repository):
        if Path(f"/proc/{pid}/comm").read_text().strip() == "tritonserver":
            return pid
    raise AssertionError("no tritonserver running")


def test_a_second_run_on_the_same_output_is_refused_and_the_first_keeps_its_points(
    repository: Path, tmp_path: Path
):
    output = tmp_path / "profile"
    args = [
        "--model-repository",
        repository,
        "--models",
        "sleepy",
        "--concurrency",
        "1,2",
        "--output",
        output,
    ]
    first = _start(*args, *FAST)
    try:
        _wait_for(lock_path(output).exists, first)
        second = profile(*args, *FAST)
        stdout, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
    assert second.exit_code == 2, second.output
    assert f"is being written by another gpupack run (pid {first.pid})" in second.stderr
    assert first.returncode == 0, stdout + stderr
    assert len(profile_rows(output)) == 2 and all(p.ok for p in read_profile(output).points)
    assert not lock_path(output).exists()


def test_hung_and_crashing_models_lose_their_points_the_server_restarts_and_the_sweep_goes_on(
    repository: Path, tmp_path: Path
):
    _add_model(repository, "hang", HANG_MODEL)
    _add_model(repository, "crash", CRASH_MODEL)
    output = tmp_path / "profile"
    result = profile(
        "--model-repository", repository, "--models", "hang,crash,identity", "--concurrency", "1,2",
        "--request-timeout", "2", "--output", output, *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 points measured, 4 failed" in result.stdout
    errors = {(p.model, p.concurrency): p.error for p in read_profile(output).points}
    assert errors[("hang", 1)] == "inference failed: Deadline Exceeded"
    assert errors[("hang", 2)].startswith("not measured: hang hung at batch 1, concurrency 1")
    assert "is not healthy" in errors[("crash", 1)]
    assert errors[("crash", 2)].startswith("not measured: crash's stub process died")
    assert errors[("identity", 1)] == errors[("identity", 2)] == ""
    assert result.stderr.count("restarting tritonserver") == 2
    assert "Traceback" not in result.output


def test_a_killed_server_is_named_restarted_and_no_stub_outlives_it(repository: Path, tmp_path: Path):
    output = tmp_path / "profile"
    args = ["--model-repository", repository, "--models", "sleepy,identity", "--concurrency", "1,2,4"]
    child = _start(*args, "--output", output, *FAST)
    try:
        _wait_for((output / PROFILE_CSV).exists, child)
        server = _server_pid(repository)
        stubs = [pid for pid in servers_of(repository) if pid != server]
        os.kill(server, signal.SIGKILL)
        stdout, stderr = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, stdout + stderr
    assert "tritonserver exited unexpectedly (killed by signal 9 (SIGKILL); see" in stderr
    assert "restarting tritonserver" in stderr and "unload" not in stderr
    assert stubs and not any(_alive(pid) for pid in stubs)  # killed with their server's group, not 90 s later
    points = read_profile(output).points
    assert all(p.ok or "tritonserver exited unexpectedly" in p.error for p in points), [
        p.error for p in points
    ]
    assert any(not p.ok for p in points) and all(p.ok for p in points if p.model == "identity")

    resumed = profile(*args, "--output", output, "--resume", *FAST)
    assert resumed.exit_code == 0, resumed.output
    assert all(p.ok for p in read_profile(output).points)


def test_ctrl_c_during_server_start_exits_130_with_nothing_left_behind(repository: Path, tmp_path: Path):
    child = _start(
        "--model-repository", repository, "--models", "identity", "--output", tmp_path / "p", *FAST
    )
    try:
        _wait_for(lambda: bool(servers_of(repository)), child)
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, stdout + stderr
    assert "Aborted" not in stderr and "Traceback" not in stderr
    assert wait_until_gone(repository) == [] and _temp_dirs_of(child.pid) == []


# SIGTERM takes the same path (its exit code, 143, is checked in tests/unit/test_signals.py).
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGHUP, 129)])
def test_sighup_stops_the_sweep_like_ctrl_c(repository: Path, tmp_path: Path, signum, code):
    output = tmp_path / "profile"
    args = [
        "--model-repository",
        repository,
        "--models",
        "sleepy",
        "--concurrency",
        "1,2,4",
        "--output",
        output,
    ]
    child = _start(*args, *FAST)
    try:
        _wait_for((output / PROFILE_CSV).exists, child)
        child.send_signal(signum)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == code, stdout + stderr
    assert "interrupted: rerun with --resume" in stdout
    assert wait_until_gone(repository) == [] and _temp_dirs_of(child.pid) == []
    assert 1 <= len(profile_rows(output)) < 3


def test_the_temp_dir_of_a_killed_run_is_removed_by_the_next_run(repository: Path, tmp_path: Path):
    child = _start(
        "--model-repository", repository, "--models", "identity", "--output", tmp_path / "a", *FAST
    )
    try:
        _wait_for(lambda: bool(servers_of(repository)), child)
        child.kill()  # SIGKILL: no cleanup at all; the server gets its parent-death signal
        child.wait()
    finally:
        child.kill()
    assert wait_until_gone(repository) == []
    assert len(_temp_dirs_of(child.pid)) == 1
    result = profile(
        "--model-repository", repository, "--models", "identity", "--output", tmp_path / "b", *FAST
    )
    assert result.exit_code == 0, result.output
    assert _temp_dirs_of(child.pid) == []


def test_a_request_larger_than_a_grpc_message_is_refused_before_it_is_built(repository: Path, tmp_path: Path):
    result = profile(
        "--model-repository", repository, "--models", "dynamic", "--batch", "2",
        "--shape", "INPUT0:1000000000", "--output", tmp_path / "p", *FAST,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "a request of batch size 2 is 7.5 GiB, more than gRPC's 2 GiB message limit" in result.stderr
    assert "Traceback" not in result.output
