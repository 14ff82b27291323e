"""Launch scripts from ``launch_script`` start real servers through `gpupack serve`, answer, and stop."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import tritonclient.http as httpclient
from click.testing import CliRunner
from profiler_support import BROKEN_MODEL, EXAMPLES, REPO, echo, servers_of, wait_ready, wait_until_gone

from cli import cli
from profiler.server.ports import free_ports
from profiler.server.serving import launch_script

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _gpupack_wrapper(folder: Path) -> Path:
    """A gpupack executable that runs this checkout's CLI (the installed console script may be another's)."""
    wrapper = folder / "gpupack"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m cli "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def _plan_directory(root: Path, placement: dict[int, list[str]], gpupack: Path) -> dict[int, int]:
    """gpu<i>/ repositories copied from the examples and launch-gpu<i>.sh scripts; HTTP port per GPU."""
    http_ports = {}
    for index, models in placement.items():
        for model in models:
            shutil.copytree(EXAMPLES / model, root / f"gpu{index}" / model)
        http, grpc, metrics = free_ports(3)
        script = root / f"launch-gpu{index}.sh"
        script.write_text(launch_script(index, f"gpu{index}", http, grpc, metrics, gpupack, models))
        script.chmod(0o755)
        http_ports[index] = http
    return http_ports


def test_launch_scripts_serve_every_model_and_stop_cleanly_on_sigterm_and_sighup(tmp_path: Path):
    plan = tmp_path / "plan"
    ports = _plan_directory(plan, {0: ["identity", "sleepy"], 1: ["sleepy"]}, _gpupack_wrapper(tmp_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUPACK")}
    extra = {0: ["--quiet"], 1: ["--quiet", "--model-control-mode", "poll"]}  # "$@" reaches gpupack serve
    children = {
        i: subprocess.Popen(
            ["bash", str(plan / f"launch-gpu{i}.sh"), *extra[i]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for i in ports
    }  # fmt: skip
    # Each child's output is read as it comes, so the test can wait for `gpupack serve`'s own "serving"
    # line: the server answers ready a moment before serve has checked its models and said so.
    lines = {i: ([], []) for i in children}
    readers = [
        threading.Thread(target=lambda stream, into: into.extend(stream), args=(stream, into), daemon=True)
        for i, child in children.items()
        for stream, into in zip((child.stdout, child.stderr), lines[i], strict=True)
    ]
    for reader in readers:
        reader.start()
    try:
        for index, child in children.items():
            client = httpclient.InferenceServerClient(f"localhost:{ports[index]}")
            wait_ready(client, child)
            for model in ("identity", "sleepy") if index == 0 else ("sleepy",):
                echo(client, model)
            client.close()
            deadline = time.monotonic() + 60
            while not any("serving " in line for line in lines[index][1]) and time.monotonic() < deadline:
                time.sleep(0.1)
        children[0].send_signal(signal.SIGTERM)
        children[1].send_signal(signal.SIGHUP)
        for child in children.values():
            child.wait(timeout=60)
        for reader in readers:
            reader.join(timeout=10)
        outputs = {i: ("".join(out), "".join(err)) for i, (out, err) in lines.items()}
    finally:
        for child in children.values():
            child.kill()
    left = wait_until_gone(plan)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"tritonserver processes outlived their launch scripts: {left}"
    assert (children[0].returncode, children[1].returncode) == (143, 129), outputs
    stderr = outputs[0][1]
    assert "serving " in stderr and "(2 models: identity, sleepy)" in stderr
    assert "stopped by SIGTERM" in stderr and "stopped by SIGHUP" in outputs[1][1]


def test_serve_stops_with_one_error_line_when_a_model_fails_to_load(tmp_path: Path):
    repository = tmp_path / "gpu0"
    shutil.copytree(EXAMPLES / "identity", repository / "identity")
    (repository / "broken" / "1").mkdir(parents=True)
    shutil.copy(EXAMPLES / "identity" / "config.pbtxt", repository / "broken")
    (repository / "broken" / "1" / "model.py").write_text(BROKEN_MODEL)
    http, grpc, metrics = free_ports(3)
    ports = ("--http-port", http, "--grpc-port", grpc, "--metrics-port", metrics)
    result = CliRunner().invoke(cli, ["serve", str(repository), *map(str, ports), "--quiet"])
    assert wait_until_gone(repository) == []
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "tritonserver exited during start-up" in errors[0], result.stderr
    reason = "failed to load 'broken' version 1: Internal: RuntimeError: this model fails to load on purpose"
    assert reason in errors[0]
    assert "To fix: see the server log /tmp/gpupack-tritonserver-" in result.stderr  # kept: the server failed
    Path(result.stderr.split("see the server log ")[1].split()[0]).unlink()


def test_serve_exits_1_with_one_error_line_when_its_server_dies(tmp_path: Path):
    plan = tmp_path / "plan"
    ports = _plan_directory(plan, {0: ["identity"]}, _gpupack_wrapper(tmp_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUPACK")}
    child = subprocess.Popen(
        ["bash", str(plan / "launch-gpu0.sh"), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        wait_ready(httpclient.InferenceServerClient(f"localhost:{ports[0]}"), child)
        # Kill the server only once serve itself has seen it ready (its "serving" line), or serve
        # rightly reports a start-up failure instead.
        seen = ""
        while not any(line.startswith("serving ") for line in seen.splitlines()):
            line = child.stderr.readline()
            assert line, seen
            seen += line
        server = [
            pid for pid in servers_of(plan) if b"tritonserver" in Path(f"/proc/{pid}/comm").read_bytes()
        ]
        os.kill(server[0], signal.SIGKILL)
        _, rest = child.communicate(timeout=60)
        stderr = seen + rest
    finally:
        child.kill()
    assert wait_until_gone(plan) == []
    assert child.returncode == 1, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: tritonserver exited (exit code -9)"), stderr
    log = Path(stderr.split("see the server log ")[1].split()[0])
    assert log.is_file()  # kept for the user to read; not ours to keep
    log.unlink()


def test_an_onnx_model_needs_no_numpy1_python_and_its_missing_backend_is_explained(tmp_path: Path):
    repo = tmp_path / "models"
    (repo / "m" / "1").mkdir(parents=True)
    (repo / "m" / "1" / "model.onnx").write_bytes(b"x")
    (repo / "m" / "config.pbtxt").write_text(
        'platform: "onnxruntime_onnx"\nmax_batch_size: 0\n'
        'input [ { name: "x", data_type: TYPE_FP32, dims: [ 1 ] } ]\n'
        'output [ { name: "y", data_type: TYPE_FP32, dims: [ 1 ] } ]\n'
    )
    # A backend Python that could never serve Python models: it is not even probed.
    result = CliRunner().invoke(
        cli, ["serve", str(repo), "--quiet", "--backend-python", "/nonexistent/python3"]
    )
    assert result.exit_code == 1, result.output
    assert "unable to find backend library for backend 'onnxruntime'" in result.output
    assert "has the Python backend only" in result.output and "--backend-python" not in result.output
    assert wait_until_gone(repo) == []
    Path(result.output.split("see the server log ")[1].split()[0]).unlink()  # kept for the user, not ours
