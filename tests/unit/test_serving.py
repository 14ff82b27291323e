"""Launch scripts of a written plan, and `gpupack serve`'s refusals (no server is started here)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import cli
from profiler.base.errors import InputError
from profiler.base.signals import Interrupted, exit_code
from profiler.server.launcher import ServerPorts
from profiler.server.ports import free_ports
from profiler.server.serving import installed_gpupack, launch_script

# A stand-in for gpupack that prints the arguments it was given, one per line.
_ECHO_ARGS = '#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n'


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _run(script: Path, *args: str, **env: str) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GPUPACK")} | env
    done = subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, env=environment, check=True
    )
    return done.stdout.splitlines()


def test_launch_script_execs_gpupack_serve_on_its_repository_with_its_ports_and_gpu(tmp_path: Path):
    (tmp_path / "bin dir").mkdir()
    fake = _write(tmp_path / "bin dir" / "gpupack", _ECHO_ARGS)  # a space in the path, on purpose
    text = launch_script(1, "gpu1", 8003, 8004, 8005, fake, models=["resnet", "unet"])
    assert text.startswith("#!/usr/bin/env bash\n# gpupack plan, GPU 1: resnet, unet\n")
    assert "set -euo pipefail" in text and 'exec "${GPUPACK:-$gpupack}" serve "$here/gpu1"' in text
    plan = tmp_path / "plan"
    plan.mkdir()
    script = _write(plan / "launch-gpu1.sh", text)
    assert _run(script) == [
        "serve", str(plan / "gpu1"),
        "--http-port", "8003", "--grpc-port", "8004", "--metrics-port", "8005", "--gpu", "1",
    ]  # fmt: skip


def test_launch_script_honours_gpupack_gpu_and_passes_extra_arguments_on(tmp_path: Path):
    fake = _write(tmp_path / "gpupack", _ECHO_ARGS)
    other = _write(tmp_path / "other-gpupack", '#!/usr/bin/env bash\necho other "$@"\n')
    script = _write(tmp_path / "launch-gpu0.sh", launch_script(0, "gpu0", 8000, 8001, 8002, fake))
    args = _run(script, "--model-control-mode", "poll", "--", "--log-verbose=1", GPUPACK_GPU="3")
    assert args[-6:] == ["--gpu", "3", "--model-control-mode", "poll", "--", "--log-verbose=1"]
    assert _run(script, GPUPACK=str(other))[0].startswith("other serve ")


def test_launch_script_refuses_bad_folders_indices_and_ports():
    with pytest.raises(InputError, match="not a plain directory name"):
        launch_script(0, "../gpu0", 8000, 8001, 8002, "/usr/bin/gpupack")
    with pytest.raises(InputError, match="at least 0"):
        launch_script(-1, "gpu0", 8000, 8001, 8002, "/usr/bin/gpupack")
    with pytest.raises(InputError, match="must differ"):
        launch_script(0, "gpu0", 8000, 8000, 8002, "/usr/bin/gpupack")
    with pytest.raises(InputError, match="within 1-65535"):
        ServerPorts(0, 1, 2)


def test_installed_gpupack_is_an_absolute_path_or_the_bare_name():
    found = installed_gpupack()
    assert found == "gpupack" or (os.path.isabs(found) and Path(found).name == "gpupack")


def test_stop_signals_map_to_the_exit_codes_a_shell_reports():
    assert Interrupted(signal.SIGTERM).exit_code == 143 and Interrupted(signal.SIGHUP).exit_code == 129
    assert exit_code(Interrupted(signal.SIGINT)) == 130 and exit_code(KeyboardInterrupt()) == 130
    assert Interrupted(signal.SIGTERM).args[0] == "SIGTERM"


def _serve(*args: object, **env: str) -> Result:
    return CliRunner().invoke(cli, ["serve", *map(str, args)], env=env)


def test_serve_refuses_a_missing_repository_with_one_line_and_exit_2(tmp_path: Path):
    result = _serve(tmp_path / "nowhere")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "not a directory" in result.stderr
    assert "Traceback" not in result.output


def test_serve_takes_the_server_binary_from_tritonserver_in_the_environment(tmp_path: Path):
    result = _serve(tmp_path, TRITONSERVER=str(tmp_path / "no-tritonserver"))
    assert result.exit_code == 2, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: --triton-server {tmp_path / 'no-tritonserver'}: not an executable file"
    ]


def test_serve_refuses_a_backend_python_with_another_python3_beside_it(tmp_path: Path):
    lonely = tmp_path / "bin" / "python"
    lonely.parent.mkdir()
    os.symlink(sys.executable, lonely)
    repo = tmp_path / "models"
    (repo / "m").mkdir(parents=True)  # a Python-backend model: only those need the backend Python
    (repo / "m" / "config.pbtxt").write_text('backend: "python"\n')
    result = _serve(repo, GPUPACK_BACKEND_PYTHON=str(lonely))
    assert result.exit_code == 2 and "the stub runs the first python3 on PATH" in result.stderr


def test_serve_refuses_a_port_something_already_listens_on(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        http, metrics = free_ports(2)
        ports = ("--http-port", http, "--grpc-port", port, "--metrics-port", metrics)
        result = _serve(tmp_path, *ports)
    assert result.exit_code == 2, result.output
    assert f"error: the gRPC port {port} is already in use" in result.stderr
