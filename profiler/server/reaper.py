"""What a server leaves behind when it stops badly, found and removed.

* Processes of its process group: a model stub orphaned by a server that crashed or was killed
  lives on until its own health check gives up (90 s have been seen). ``kill_group`` ends them.
* Shared memory: each Python-backend stub talks to the server through a region
  ``/dev/shm/triton_python_backend_shm_region_<uuid>``, which the server removes when it unloads the
  model in order. A stub that died, or a server that was killed, leaves it (1 MB or more, in RAM).
  ``remove_leaked_shm`` removes such regions written since our server started that no process maps.

Only /proc is read (Linux), as in ``procfs``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

SHM = Path("/dev/shm")
SHM_PREFIX = "triton_python_backend_shm_region_"
# Orphaned stubs get SIGKILL and are gone in milliseconds; wait no longer than this for them.
GROUP_GONE_S = 5.0
_POLL_S = 0.05


def kill_group(pgid: int, timeout_s: float = GROUP_GONE_S) -> None:
    """SIGKILL every process left in the group ``pgid`` and wait (briefly) until none is left.

    A process group id is not reused while any member lives, so this never reaches a stranger.
    Members that are zombies (dead, waiting to be reaped) count as gone.
    """
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(_POLL_S)


def _pids() -> list[str]:
    try:
        return [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []


def group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` runs (zombies aside)."""
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields[0] is the state (field 3 of proc(5)), fields[2] the process group (field 5)
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False


def _mapped_regions() -> set[str]:
    """Names of the stub regions some live process maps (the server maps every one of its stubs')."""
    names = set()
    for pid in _pids():
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/maps", "rb") as handle:
                for line in handle:
                    if SHM_PREFIX.encode() in line:
                        names.add(os.path.basename(line.split()[-1]).decode("utf-8", "replace"))
    return names


def remove_leaked_shm(since: float, shm: Path = SHM) -> list[str]:
    """Remove our stub regions written since ``since`` (a time.time()) that no process maps."""
    if not since:
        return []
    try:
        candidates = [
            entry
            for entry in os.scandir(shm)
            if entry.name.startswith(SHM_PREFIX)
            and entry.stat(follow_symlinks=False).st_uid == os.getuid()
            and entry.stat(follow_symlinks=False).st_mtime >= since - 1
        ]
    except OSError:
        return []
    if not candidates:
        return []
    mapped = _mapped_regions()
    removed = []
    for entry in candidates:
        if entry.name not in mapped:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed
