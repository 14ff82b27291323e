"""One signal policy for every command: SIGINT, SIGTERM and SIGHUP stop the run the same way.

Within ``handle_signals()`` (the CLI wraps every command in it), each of the three raises
``Interrupted`` (a ``KeyboardInterrupt``) in the main thread, so that everything opened is closed
on the way out: servers stopped, temporary files removed, finished work kept. The process then
exits with 128 + the signal's number, as shells report it: 130 for Ctrl-C (SIGINT), 143 for
SIGTERM, 129 for SIGHUP (a closed terminal).

Two things bound the way out. A second signal while stopping stops at once; and stopping may take
at most ``FORCE_EXIT_AFTER_S``. Either way every server process group registered here is killed
(SIGKILL) and the process exits with the first signal's code; temporary directories left behind
are removed by the next run (``files.clean_stale_dirs``).

Code that must not be interrupted halfway (an asyncio event loop talking gRPC: an exception raised
inside it can leave the channel unable to close) runs in ``deferred()``: there a signal is only
recorded; the code polls ``pending()`` to finish early, and the interrupt is raised when it leaves
the block.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Stopping a server that unloads a GPU model takes seconds, at most launcher.STOP_TIMEOUT_S (30 s);
# beyond this the run is stuck, and exits anyway (a test of the issue waits 60 s for an exit).
FORCE_EXIT_AFTER_S = 45.0


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; ``exit_code`` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP."""
        return 128 + self.signum


def exit_code(exc: BaseException | None) -> int:
    """The exit code for an interrupt: its signal's, or SIGINT's for a plain KeyboardInterrupt."""
    return exc.exit_code if isinstance(exc, Interrupted) else 128 + signal.SIGINT


class _State:
    """What the handler knows; one per process (signals are per process)."""

    def __init__(self) -> None:
        self.depth = 0
        self.deferring = 0
        self.signum: int | None = None
        self.watchdog: threading.Timer | None = None
        self.groups: set[int] = set()


_state = _State()


def pending() -> int | None:
    """The signal received and not yet raised (inside ``deferred()``), else None."""
    return _state.signum if _state.deferring else None


def register_process_group(pgid: int) -> None:
    """Kill this process group if the run has to stop at once (a server we started)."""
    _state.groups.add(pgid)


def unregister_process_group(pgid: int) -> None:
    """The group is gone (or stopped in order): no longer ours to kill."""
    _state.groups.discard(pgid)


def _kill_groups() -> None:
    for pgid in list(_state.groups):
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)


def _force_exit(reason: str) -> None:
    """Kill our servers and leave now, with the first signal's exit code."""
    _kill_groups()
    with contextlib.suppress(OSError):
        os.write(2, f"\ngpupack: {reason}; stopped its servers and exited\n".encode())
    os._exit(128 + (_state.signum or signal.SIGINT))


def _handler(signum: int, frame: object) -> None:
    if _state.signum is not None:
        _force_exit(f"{signal.Signals(signum).name} while stopping")
    _state.signum = signum
    timer = threading.Timer(
        FORCE_EXIT_AFTER_S, _force_exit, (f"stopping took longer than {FORCE_EXIT_AFTER_S:.0f} s",)
    )
    timer.daemon = True
    timer.start()
    _state.watchdog = timer
    if not _state.deferring:
        raise Interrupted(signum)


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Apply the policy of the module docstring within the block (re-entrant; main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _state.depth:
        _state.depth += 1
        try:
            yield
        finally:
            _state.depth -= 1
        return
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    _state.depth = 1
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if _state.watchdog is not None:
            _state.watchdog.cancel()
        _state.depth, _state.signum, _state.watchdog, _state.deferring = 0, None, None, 0


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block a signal is recorded, not raised; it is raised as ``Interrupted`` on leaving.

    Outside ``handle_signals()`` (another thread, a library caller) this changes nothing.
    """
    if not _state.depth or threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.deferring += 1
    try:
        yield
    except BaseException as exc:
        _state.deferring -= 1
        if _state.signum is not None and not _state.deferring and not isinstance(exc, KeyboardInterrupt):
            raise Interrupted(_state.signum) from exc
        raise
    _state.deferring -= 1
    if _state.signum is not None and not _state.deferring:
        raise Interrupted(_state.signum)
