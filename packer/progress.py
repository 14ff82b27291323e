"""No silent stretches: the search's progress, every few seconds, to whoever asked for it.

The search reports into a ``Heartbeat`` whenever it knows more (CP-SAT's solution and bound
callbacks, ``cpsat.run``; the greedy's plan and the simple bounds, ``choice.search``); the
heartbeat passes the latest state on at most every ``INTERVAL_S`` seconds, and repeats it every
``INTERVAL_S`` seconds while nothing new comes, from its own thread. Plans that take less than
``INTERVAL_S`` seconds report nothing. Nothing here prints: the CLI's callback does.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from packer.settings import SearchProgress, SolverSettings

# "Every few seconds": long enough that a normal plan (a second or two) prints nothing extra.
INTERVAL_S = 5.0


class Heartbeat:
    """Keeps the latest progress and hands it to ``sink`` every ``interval`` seconds at most."""

    def __init__(self, sink: Callable[[SearchProgress], None], interval: float | None = None) -> None:
        self._sink = sink
        self._interval = INTERVAL_S if interval is None else interval
        self._lock = threading.Lock()
        self._latest: SearchProgress | None = None
        self._started = time.perf_counter()
        self._last_sent = self._started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="gpupack-progress", daemon=True)

    def report(self, progress: SearchProgress) -> None:
        """Record ``progress``; pass it on at once if the last message is ``interval`` old."""
        with self._lock:
            self._latest = progress
            due = time.perf_counter() - self._last_sent >= self._interval
        if due:
            self._send()

    def _send(self) -> None:
        with self._lock:
            if self._latest is None:
                return
            now = time.perf_counter()
            self._last_sent = now
            progress = dataclasses.replace(self._latest, seconds=now - self._started)
        self._sink(progress)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval / 5):
            with self._lock:
                due = time.perf_counter() - self._last_sent >= self._interval
            if due:
                self._send()

    def start(self) -> None:
        """Start the thread that repeats the latest state while nothing new comes."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (the search is over); nothing is sent after this returns."""
        self._stop.set()
        self._thread.join()


@contextmanager
def heartbeat(settings: SolverSettings) -> Iterator[SolverSettings]:
    """``settings`` whose ``progress`` goes through a running ``Heartbeat`` (unchanged if unset)."""
    if settings.progress is None:
        yield settings
        return
    beat = Heartbeat(settings.progress)
    beat.start()
    try:
        yield dataclasses.replace(settings, progress=beat.report)
    finally:
        beat.stop()


def report(settings: SolverSettings, progress: SearchProgress) -> None:
    """Pass ``progress`` on when the settings ask for progress."""
    if settings.progress is not None:
        settings.progress(progress)
