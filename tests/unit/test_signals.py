"""profiler.base.signals: SIGINT/SIGTERM/SIGHUP end a command the same way, with 128 + the signal's number."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from profiler.base import signals
from profiler.base.signals import Interrupted, deferred, handle_signals, pending

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_each_stop_signal_raises_interrupted_with_its_exit_code_and_handlers_come_back(signum, code):
    before = {s: signal.getsignal(s) for s in signals.SIGNALS}
    with pytest.raises(Interrupted, match=signal.Signals(signum).name) as caught:
        with handle_signals():
            os.kill(os.getpid(), signum)
            time.sleep(5)
    assert caught.value.exit_code == code and isinstance(caught.value, KeyboardInterrupt)
    assert {s: signal.getsignal(s) for s in signals.SIGNALS} == before


def test_a_deferred_block_sees_the_signal_as_pending_and_raises_it_on_leaving():
    seen = []
    with pytest.raises(Interrupted, match="SIGTERM") as caught:
        with handle_signals(), deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            seen.append(pending())
    assert seen == [signal.SIGTERM] and caught.value.exit_code == 143
    assert pending() is None


def _run_stuck_cleanup(extra: str) -> subprocess.Popen:
    """A process that takes SIGINT, then hangs in its cleanup with a server-like child group."""
    script = f"""
import subprocess, sys, time
from profiler.base import signals
{extra}
child = subprocess.Popen(["sleep", "60"], start_new_session=True, stdout=subprocess.DEVNULL)
signals.register_process_group(child.pid)
with signals.handle_signals():
    try:
        print(child.pid, flush=True)
        time.sleep(60)
    except KeyboardInterrupt:
        time.sleep(60)  # a cleanup that never ends
"""
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.parametrize("second_signal", [True, False])
def test_a_stuck_cleanup_ends_at_the_second_signal_or_the_watchdog_killing_the_servers(second_signal):
    process = _run_stuck_cleanup("signals.FORCE_EXIT_AFTER_S = 1.0")
    try:
        child = int(process.stdout.readline())
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        if second_signal:
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 130  # the first signal's code
        assert time.monotonic() - started < (1.0 if second_signal else 10.0)
        deadline = time.monotonic() + 5
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(child)
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize(
    ("raised", "code"),
    [(KeyboardInterrupt(), 130), (Interrupted(signal.SIGTERM), 143), (Interrupted(1), 129)],
)
def test_an_interrupted_command_exits_with_the_signals_code_and_never_says_aborted(monkeypatch, raised, code):
    import packer.service

    def interrupted(request):
        raise raised

    monkeypatch.setattr(packer.service, "run_plan", interrupted)
    result = CliRunner().invoke(cli, ["plan"])
    assert result.exit_code == code
    assert "Aborted" not in result.output and "Traceback" not in result.output
