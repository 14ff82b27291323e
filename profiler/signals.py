"""Signals that end a foreground command: SIGINT, SIGTERM and SIGHUP raise ``Stopped`` in the main thread.

``Stopped`` is a ``KeyboardInterrupt``, so code that already keeps finished work on Ctrl-C does the same
for the other signals, and ``with`` blocks (a ``LocalServer`` above all) unwind and stop what they
started. It carries the signal, so that the command can exit as a shell reports it (128 + signal).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_SHELL_SIGNAL_BASE = 128


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; ``exit_code`` is what a shell reports for it (130, 143, 129)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """128 + the signal number."""
        return _SHELL_SIGNAL_BASE + self.signum


def exit_code_of(interrupt: KeyboardInterrupt) -> int:
    """The exit code for an interrupt: its signal's, or 130 for a plain Ctrl-C ``KeyboardInterrupt``."""
    return interrupt.exit_code if isinstance(interrupt, Stopped) else _SHELL_SIGNAL_BASE + signal.SIGINT


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """While inside, SIGINT, SIGTERM and SIGHUP raise ``Stopped`` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_stopped) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
