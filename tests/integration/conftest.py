"""Integration fixtures: a real tritonserver from nvidia-pytriton, model repositories in tmp_path.

Every test here starts real servers; the ``repository`` fixture checks that none outlives its test.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from profiler_support import BROKEN_MODEL, EXAMPLES, wait_until_gone


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[Path]:
    """identity and sleepy from the shipped examples, plus ``broken`` (fails to load) and ``dynamic``."""
    repo = tmp_path / "models"
    for name in ("identity", "sleepy"):
        shutil.copytree(EXAMPLES / name, repo / name)
    (repo / "broken" / "1").mkdir(parents=True)
    shutil.copy(EXAMPLES / "identity" / "config.pbtxt", repo / "broken")
    (repo / "broken" / "1" / "model.py").write_text(BROKEN_MODEL)
    shutil.copytree(EXAMPLES / "identity", repo / "dynamic")
    config = repo / "dynamic" / "config.pbtxt"
    config.write_text(config.read_text().replace("dims: [ 16 ]", "dims: [ -1 ]"))
    yield repo
    left = wait_until_gone(repo)
    for pid in left:  # don't let one failure take the machine's ports and CPU for the rest
        os.kill(pid, signal.SIGKILL)
    assert not left, f"tritonserver processes outlived the test: {left}"
