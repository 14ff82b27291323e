"""Helpers for the profiler's integration tests: example models, finding server processes, the CLI."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient
from click.testing import CliRunner, Result

from cli import cli
from profiler.profiles.schema import PROFILE_CSV

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "profiler" / "examples"
# Short windows keep the suite fast; the server and the client share a loaded 2-core machine, so
# tests never assert that a fast model (identity) is stable, only that it is measured.
FAST = ("--window", "0.4", "--warmup", "0.2", "--max-windows", "5")
_SERVER_NAMES = ("tritonserver", "triton_python_backend_stub")
_STOP_GRACE_S = 10.0
# A server with PyTorch models on a loaded 2-core host can take a minute to get ready.
READY_TIMEOUT_S = 90.0

BROKEN_MODEL = """
class TritonPythonModel:
    def initialize(self, args):
        raise RuntimeError("this model fails to load on purpose")
"""


def servers_of(repository: Path) -> list[int]:
    """Pids of tritonserver / stub processes started on ``repository`` (by anyone, still alive)."""
    marker = str(repository.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in command and any(name in command for name in _SERVER_NAMES):
            found.append(int(entry.name))
    return found


def wait_until_gone(repository: Path, timeout_s: float = _STOP_GRACE_S) -> list[int]:
    """Wait for the servers on ``repository`` to exit; the pids still there after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while (left := servers_of(repository)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def profile(*args: str | Path) -> Result:
    """``gpupack profile ARGS`` in this process, through click's CliRunner."""
    return CliRunner().invoke(cli, ["profile", *map(str, args)])


def profile_rows(directory: Path) -> list[str]:
    """The data rows of a written profile.csv."""
    return (directory / PROFILE_CSV).read_text().splitlines()[1:]


def wait_ready(client: httpclient.InferenceServerClient, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()
        try:
            if client.is_server_ready():
                return
        except Exception:  # connection refused until the server listens
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not get ready")


def echo(client: httpclient.InferenceServerClient, model: str) -> None:
    """The model returns a batch of its FP32 [16] input unchanged, not an empty tensor."""
    data = np.arange(32, dtype=np.float32).reshape(2, 16)
    tensor = httpclient.InferInput("INPUT0", [2, 16], "FP32")
    tensor.set_data_from_numpy(data)
    output = client.infer(model, [tensor]).as_numpy("OUTPUT0")
    assert output is not None and output.shape == (2, 16)
    np.testing.assert_array_equal(output, data)
