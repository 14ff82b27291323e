"""profiler.server.reaper: what a server leaves behind (orphaned processes, stub shared memory) is removed."""

from __future__ import annotations

import mmap
import os
import subprocess
import time
from pathlib import Path

from profiler.server.reaper import SHM_PREFIX, group_alive, kill_group, remove_leaked_shm


def test_kill_group_ends_every_process_of_the_group_and_waits_for_them():
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    try:
        time.sleep(0.2)
        assert group_alive(leader.pid)
        kill_group(leader.pid)
        assert not group_alive(leader.pid)
    finally:
        leader.kill()
        leader.wait()
    kill_group(leader.pid)  # nothing left: no error


def test_only_unmapped_regions_made_since_the_server_started_are_removed(tmp_path: Path):
    started = time.time()
    old, leaked, mapped = (tmp_path / f"{SHM_PREFIX}{name}" for name in ("old", "leaked", "mapped"))
    for path in (old, leaked, mapped):
        path.write_bytes(b"\0" * 4096)
    os.utime(old, (started - 3600, started - 3600))
    unrelated = tmp_path / "something-else"
    unrelated.write_bytes(b"x")
    with open(mapped, "r+b") as handle, mmap.mmap(handle.fileno(), 4096):
        removed = remove_leaked_shm(started, shm=tmp_path)
    assert removed == [leaked.name]
    assert mapped.exists() and unrelated.exists()
