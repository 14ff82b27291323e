"""profiler.base.files: atomic outputs, locks, overlap, stale temporaries, strict reading."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.base import files
from profiler.base.errors import EXIT_BAD_INPUT, EXIT_RUNTIME, InputError, OutputError
from profiler.base.files import (
    clean_stale_dirs,
    copy_tree,
    exclusive,
    lock_path,
    read_text,
    refuse_overlap,
    temp_dir,
    write_atomic,
)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_write_atomic_writes_a_0644_file_and_leaves_no_temporary(tmp_path: Path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "deep" / "out.json", "{}\n")
    finally:
        os.umask(old)
    out = tmp_path / "deep" / "out.json"
    assert out.read_text() == "{}\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in out.parent.iterdir()] == ["out.json"]


def test_a_failing_disk_keeps_the_old_file_and_says_cannot_write(tmp_path: Path, monkeypatch):
    out = tmp_path / "profile.csv"
    out.write_text("old\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(
        OutputError, match=r"cannot write .*profile\.csv \(No space left on device\)"
    ) as caught:
        write_atomic(out, "new\n")
    assert caught.value.exit_code == EXIT_RUNTIME
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["profile.csv"]


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        (lambda tmp: tmp / "file" / "out.json", "a parent is not a directory"),
        (lambda tmp: tmp / ("x" * 300), "File name too long"),
        (lambda tmp: Path("/proc/gpupack-test/out.json"), "No such file or directory"),
        (lambda tmp: tmp / "dir", "Is a directory"),
    ],
)
def test_an_output_that_cannot_be_written_is_one_input_error(tmp_path: Path, where, reason):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    target = where(tmp_path)
    with pytest.raises(OutputError, match=rf"cannot write .* \({reason}\)") as caught:
        write_atomic(target, "data")
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"]


def test_stale_temporary_files_of_dead_writers_are_removed_by_the_next_write(tmp_path: Path):
    stale = tmp_path / f".gpupack-{_dead_pid()}-abcd1234.tmp"
    mine = tmp_path / f".gpupack-{os.getpid()}-abcd1234.tmp"
    other = tmp_path / ".gpupack-1-abcd1234.tmp"  # pid 1 lives: not ours to judge
    for path in (stale, mine, other):
        path.write_text("half")
    write_atomic(tmp_path / "out.txt", "whole")
    assert not stale.exists() and mine.exists() and other.exists()


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_the_lock_file_goes_away(tmp_path: Path):
    out = tmp_path / "profile"
    with exclusive(out):
        with pytest.raises(
            InputError, match=rf"profile is being written by another gpupack run \(pid {os.getpid()}\)"
        ):
            with exclusive(out):
                pass
    assert not lock_path(out).exists()
    with exclusive(out):  # free again
        pass


def test_a_lock_held_by_another_process_is_refused(tmp_path: Path):
    out = tmp_path / "plan.json"
    script = (
        "import time; from pathlib import Path; from profiler.base.files import exclusive\n"
        f"with exclusive(Path({str(out)!r})):\n    print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match=rf"being written by another gpupack run \(pid {holder.pid}\)"):
            with exclusive(out):
                pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive(out):  # the kernel released it with the process
        pass


def test_outputs_are_never_an_input_or_inside_one(tmp_path: Path):
    repo = tmp_path / "models"
    (repo / "m").mkdir(parents=True)
    (tmp_path / "link").symlink_to(repo)
    inputs = {"--model-repository": repo, "--triton-server": None}
    for bad in (repo, repo / "profile", tmp_path / "link" / "profile"):
        with pytest.raises(InputError, match="--model-repository"):
            refuse_overlap(bad, inputs)
    refuse_overlap(tmp_path / "profile", inputs)
    refuse_overlap(tmp_path, inputs)  # the repository inside the output is not written to


def test_stale_temp_dirs_of_dead_processes_are_removed_and_live_ones_kept(tmp_path: Path):
    dead = tmp_path / f"gpupack-triton-{_dead_pid()}-abc_1234"
    alive = tmp_path / "gpupack-triton-1-abc_1234"
    mine = tmp_path / f"gpupack-pa-{os.getpid()}-abc_1234"
    foreign = tmp_path / "gpupack-triton-q0t4abcd"  # the old naming, no pid: never ours to guess
    for path in (dead, alive, mine, foreign):
        (path / "backends").mkdir(parents=True)
    assert clean_stale_dirs(tmp_path) == [dead]
    assert not dead.exists() and alive.exists() and mine.exists() and foreign.exists()


def test_temp_dir_names_carry_the_pid(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(files.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(files.tempfile, "tempdir", str(tmp_path))
    made = temp_dir("triton")
    assert made.parent == tmp_path and made.name.startswith(f"gpupack-triton-{os.getpid()}-")


def test_read_text_refuses_what_is_not_a_utf8_regular_file_in_one_line(tmp_path: Path):
    fifo = tmp_path / "profile.csv"
    os.mkfifo(fifo)
    (tmp_path / "latin1.csv").write_bytes("modèle\n".encode("latin-1"))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfmodel\n")
    cases = {
        fifo: "is a FIFO, expected a regular file",
        tmp_path: "is a directory, expected a regular file",
        Path("/dev/null"): "is a character device",
        tmp_path / "missing.csv": "no such file",
        tmp_path / "latin1.csv" / "x": "a parent is not a directory",
        tmp_path / "latin1.csv": r"not UTF-8 text \(byte 0xe8 at offset 3\)",
    }
    for path, message in cases.items():
        with pytest.raises(InputError, match=message) as caught:
            read_text(path, "--targets")
        assert caught.value.message.startswith(f"--targets {path}: ")
    assert read_text(tmp_path / "bom.csv") == "model\n"


def test_read_text_refuses_a_file_too_large_to_be_an_input(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(files, "MAX_INPUT_BYTES", 10)
    (tmp_path / "big.csv").write_text("x" * 11)
    with pytest.raises(InputError, match="too large for a gpupack input"):
        read_text(tmp_path / "big.csv")


def test_copy_tree_keeps_inner_symlinks_and_refuses_ones_that_lead_out(tmp_path: Path):
    source = tmp_path / "repo"
    (source / "m" / "1").mkdir(parents=True)
    (source / "m" / "1" / "model.py").write_text("x")
    (source / "m" / "latest").symlink_to("1")
    copy_tree(source, tmp_path / "copy")
    assert (tmp_path / "copy" / "m" / "latest").is_symlink()
    (source / "m" / "secret").symlink_to("/etc/passwd")
    with pytest.raises(InputError, match="a symlink out of"):
        copy_tree(source, tmp_path / "copy2")
    assert not (tmp_path / "copy2").exists()
