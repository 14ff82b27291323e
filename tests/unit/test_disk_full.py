"""A full, read-only or over-quota disk at every write path: one line, ``cannot write PATH (reason)``.

The host can't mount a small tmpfs for a test, so each fault is an ``OSError`` injected at the
lowest helper a path writes through (``os.write`` of the lock's pid, the temporary file's fsync,
``mkdir``, ``mkdtemp``, a copy's ``sendfile``); then the command or helper must fail with the one
line, leave nothing half-written behind, and never show a traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from profiler.base import files
from profiler.base.errors import EXIT_BAD_INPUT, EXIT_RUNTIME, OutputError
from profiler.base.files import copy_tree, ensure_directory, exclusive, lock_path, temp_dir, write_atomic
from profiler.measure.perf_analyzer import library_folder
from profiler.server.launcher import LocalServer, LocalServerSettings
from profiler.server.log import LogPump

# (errno, exit code): a disk that fails is a runtime failure, a read-only one the path's.
FAULTS = [(errno.ENOSPC, EXIT_RUNTIME), (errno.EDQUOT, EXIT_RUNTIME), (errno.EROFS, EXIT_BAD_INPUT)]


def _raiser(code: int):
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    return fail


def _one_line(result, code: int, exit_code: int) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: cannot write ") and f"({os.strerror(code)})" in lines[0], lines
    assert all(line.startswith("To fix: ") for line in lines[1:]) and len(lines) <= 2, lines


@pytest.mark.parametrize(("code", "exit_code"), FAULTS)
def test_the_lock_of_an_output_on_a_full_disk_is_one_line_and_leaves_no_lock_file(
    tmp_path: Path, monkeypatch, code: int, exit_code: int
):
    out = tmp_path / "profile"
    monkeypatch.setattr(files.os, "write", _raiser(code))
    with pytest.raises(OutputError, match=rf"cannot write .*profile \({os.strerror(code)}\)") as caught:
        with exclusive(out):
            pass
    assert caught.value.exit_code == exit_code
    assert not lock_path(out).exists()


@pytest.mark.parametrize(("code", "exit_code"), FAULTS)
def test_profile_output_on_a_full_disk_dies_in_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch, code: int, exit_code: int
):
    (tmp_path / "models" / "m").mkdir(parents=True)
    monkeypatch.setattr(files.os, "write", _raiser(code))
    args = ["profile", "--model-repository", str(tmp_path / "models"), "--models", "m"]
    result = CliRunner().invoke(cli, [*args, "--output", str(tmp_path / "out" / "profile")])
    _one_line(result, code, exit_code)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


@pytest.mark.parametrize(("code", "exit_code"), FAULTS)
def test_plan_output_on_a_full_disk_is_one_line_and_leaves_no_file(
    tmp_path: Path, monkeypatch, code: int, exit_code: int
):
    monkeypatch.setattr(files.os, "fsync", _raiser(code))
    result = CliRunner().invoke(cli, ["plan", "--output", str(tmp_path / "plan.json")])
    _one_line(result, code, exit_code)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("code", "exit_code"), FAULTS)
def test_a_temporary_file_that_cannot_be_created_is_one_line(
    tmp_path: Path, monkeypatch, code: int, exit_code: int
):
    real_open = os.open

    def open_(path, flags, *args):  # noqa: ANN001, ANN202 (os.open's signature)
        if ".tmp" in str(path):
            raise OSError(code, os.strerror(code))
        return real_open(path, flags, *args)

    monkeypatch.setattr(files.os, "open", open_)
    with pytest.raises(OutputError, match=rf"cannot write .*out\.json \({os.strerror(code)}\)") as caught:
        write_atomic(tmp_path / "out.json", "{}")
    assert caught.value.exit_code == exit_code
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("code", "exit_code"), FAULTS)
def test_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path, monkeypatch, code: int, exit_code: int):
    monkeypatch.setattr(Path, "mkdir", _raiser(code))
    with pytest.raises(OutputError, match=rf"cannot write .*deep \({os.strerror(code)}\)") as caught:
        ensure_directory(tmp_path / "deep")
    assert caught.value.exit_code == exit_code


@pytest.mark.parametrize(("code", "exit_code"), FAULTS)
def test_a_temporary_directory_on_a_full_disk_is_one_line(
    tmp_path: Path, monkeypatch, code: int, exit_code: int
):
    monkeypatch.setattr(files.tempfile, "mkdtemp", _raiser(code))
    with pytest.raises(OutputError, match=rf"\({os.strerror(code)}\)") as caught:
        temp_dir("pa", tmp_path)
    assert caught.value.exit_code == exit_code


@pytest.mark.parametrize(("code", "exit_code"), [(errno.ENOSPC, EXIT_RUNTIME), (errno.EDQUOT, EXIT_RUNTIME)])
def test_a_copied_tree_that_fills_the_disk_is_one_line_naming_the_target(
    tmp_path: Path, monkeypatch, code: int, exit_code: int
):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.py").write_text("x" * 100)
    # copytree gathers a file's failure into shutil.Error, which keeps only the message.
    monkeypatch.setattr(shutil, "copy2", _raiser(code))
    monkeypatch.setattr(shutil, "copytree", _copytree_with(shutil.copytree, _raiser(code)))
    with pytest.raises(OutputError, match=rf"cannot write .*dst \({os.strerror(code)}\)") as caught:
        copy_tree(tmp_path / "src", tmp_path / "dst")
    assert caught.value.exit_code == exit_code


def _copytree_with(copytree, copy):  # noqa: ANN001, ANN202
    def run(src, dst, **kwargs):  # noqa: ANN001, ANN202
        return copytree(src, dst, copy_function=copy, **kwargs)

    return run


def test_a_read_only_copy_target_is_one_line(tmp_path: Path, monkeypatch):
    (tmp_path / "src").mkdir()
    monkeypatch.setattr(os, "makedirs", _raiser(errno.EROFS))
    with pytest.raises(OutputError, match=r"cannot write .*dst \(Read-only file system\)"):
        copy_tree(tmp_path / "src", tmp_path / "dst")


@pytest.mark.parametrize(("code", "exit_code"), FAULTS)
def test_a_report_on_a_full_disk_is_one_line_and_leaves_no_folder(
    tmp_path: Path, monkeypatch, code: int, exit_code: int
):
    real = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:
        if self.suffix == ".png":
            raise OSError(code, os.strerror(code))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    result = CliRunner().invoke(cli, ["plan", "--report", str(tmp_path / "report.html")])
    _one_line(result, code, exit_code)
    assert list(tmp_path.iterdir()) == []


def test_a_report_whose_temporary_folder_cannot_be_made_is_one_line(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(tempfile, "mkdtemp", _raiser(errno.ENOSPC))
    result = CliRunner().invoke(cli, ["plan", "--report", str(tmp_path / "report.html")])
    _one_line(result, errno.ENOSPC, EXIT_RUNTIME)
    assert list(tmp_path.iterdir()) == []


def test_the_server_log_on_a_full_disk_keeps_pumping_and_keeps_its_lines():
    # /dev/full is a real full device: every write to it fails with ENOSPC.
    read, write = os.pipe()
    with os.fdopen(write, "wb") as server:
        server.write(b"I1205 starting\nE1205 failed to load 'm' version 1: boom\n")
    pump = LogPump(os.fdopen(read, "rb"), Path("/dev/full"))
    pump.drain()
    assert "failed to load 'm' version 1: boom" in pump.text()


def test_the_server_log_in_a_folder_that_cannot_be_made_keeps_pumping(tmp_path: Path):
    read, write = os.pipe()
    with os.fdopen(write, "wb") as server:
        server.write(b"I1205 ready\n")
    pump = LogPump(os.fdopen(read, "rb"), tmp_path / "missing" / "server.log")
    pump.drain()
    assert pump.text() == "I1205 ready\n"


def test_a_temporary_server_log_on_a_full_temp_disk_is_one_line(monkeypatch):
    monkeypatch.setattr(tempfile, "mkstemp", _raiser(errno.ENOSPC))
    server = LocalServer(LocalServerSettings(model_repository=Path("/nonexistent")))
    with pytest.raises(OutputError, match=r"cannot write .* \(No space left on device\)"):
        server._temporary_log_path()


def test_perf_analyzers_library_links_on_a_full_disk_are_one_line(tmp_path: Path, monkeypatch):
    (tmp_path / "libs").mkdir()
    (tmp_path / "libs" / "libb64-1a2b.so.0d").write_text("")
    monkeypatch.setattr(Path, "symlink_to", _raiser(errno.ENOSPC))
    with pytest.raises(OutputError, match=r"cannot write .*lib \(No space left on device\)"):
        library_folder(tmp_path / "work", [tmp_path / "libs"])
