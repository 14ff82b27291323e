"""Helpers for the profiler's integration tests: example models, finding server processes, the CLI."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner, Result

from cli import cli
from profiler.schema import PROFILE_CSV

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "profiler" / "examples"
# Short windows keep the suite fast; the server and the client share a loaded 2-core machine, so
# tests never assert that a fast model (identity) is stable, only that it is measured.
FAST = ("--window", "0.4", "--warmup", "0.2", "--max-windows", "5")
_SERVER_NAMES = ("tritonserver", "triton_python_backend_stub")
_STOP_GRACE_S = 10.0

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
