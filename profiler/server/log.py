"""The server's output: copied line by line to its log file (and, for ``gpupack serve``, to a stream).

A thread reads the server's combined stdout and stderr from a pipe, appends every line to the log file,
optionally echoes it (``gpupack serve`` shows the server's log in the foreground) and keeps the last
lines in memory, so that a failed start can quote the server's own reason without reading the file back.
"""

from __future__ import annotations

import collections
import contextlib
import re
import threading
from pathlib import Path
from typing import IO, BinaryIO

# Enough for the model table and the errors after it; a failed start is explained in its last lines.
KEPT_LINES = 400
# After the server exits, its stub processes may still hold the pipe for a moment.
DRAIN_TIMEOUT_S = 2.0


# The server's line for a model that failed to load: "failed to load 'm' version 1: Internal: ...\n\nAt: ..."
_MODEL_FAILED = re.compile(r"failed to load '[^']+' version \d+: .*?(?=\\n|\"?$)", re.MULTILINE)


def last_error_line(log: str) -> str:
    r"""The most telling line of a server log: the models that failed to load, else its last error line.

    Falls back to the last line of all. Python tracebacks inside a line (``\n\nAt: ...``) are cut off.
    """
    failed = list(dict.fromkeys(m.group(0) for m in _MODEL_FAILED.finditer(log)))
    if failed:
        return "; ".join(failed)
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if line[:1] == "E" and line[1:5].isdigit() or "error" in line.lower()]
    line = (errors or lines or ["no output"])[-1]
    if line[:1] in "EWI" and line[1:5].isdigit() and "] " in line:
        line = line.split("] ", 1)[1]  # drop glog's "E1125 15:59:42.545464 7451 main.cc:245] " prefix
    return line.strip('"')


class LogPump:
    """Copies ``pipe`` to ``log_path`` (appending) and to ``echo``, in a daemon thread, until EOF."""

    def __init__(self, pipe: BinaryIO, log_path: Path, echo: IO[str] | None = None) -> None:
        self._pipe = pipe
        self._log_path = log_path
        self._echo = echo
        self._lines: collections.deque[str] = collections.deque(maxlen=KEPT_LINES)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gpupack-server-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        log = self._open_log()
        for raw in iter(self._pipe.readline, b""):
            raw = raw if raw.endswith(b"\n") else raw + b"\n"  # our own lines start on a new line
            log = self._write_log(log, raw)
            line = raw.decode("utf-8", "replace")
            with self._lock:
                self._lines.append(line)
            self._write_echo(line)
        if log is not None:
            with contextlib.suppress(OSError):
                log.close()
        self._pipe.close()

    def _open_log(self) -> BinaryIO | None:
        try:
            return open(self._log_path, "ab")  # held open by the thread until EOF
        except OSError:
            return None  # a full or read-only disk: the lines are still kept, echoed and pumped

    @staticmethod
    def _write_log(log: BinaryIO | None, raw: bytes) -> BinaryIO | None:
        """Append ``raw``; on a full disk stop writing (the server must never block on its pipe)."""
        if log is None:
            return None
        try:
            log.write(raw)
            log.flush()
        except OSError:
            with contextlib.suppress(OSError):
                log.close()
            return None
        return log

    def _write_echo(self, line: str) -> None:
        if self._echo is None:
            return
        try:
            self._echo.write(line)
            self._echo.flush()
        except (OSError, ValueError):  # the reader went away (a closed pipe): keep the file going
            self._echo = None

    def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Wait (at most ``timeout_s``) until everything the server wrote has been read."""
        self._thread.join(timeout_s)

    def text(self) -> str:
        """The last ``KEPT_LINES`` lines read so far."""
        with self._lock:
            return "".join(self._lines)
