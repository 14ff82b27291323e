"""The engines' clock: work done, not wall time, so that a plan depends on its input and options only.

Every engine step reads ``now()`` where a wall clock would be read, and ``spend``s the work it does
in *work units*: deterministic counts (local-search moves, LP solves, dynamic-programming cells,
CP-SAT's deterministic time, SCIP's nodes) each weighted by a cost measured on the quiet
reference host (2-core Xeon, OR-Tools 9.12), so that one unit is about one second of work there.
The shares the engines give their steps ("40 % of the time left") are shares of work left, so the
same input and options take the same path on an idle machine and on a busy one.

One rule sizes a plan's work (``budget``): from the time limit T, minus what parsing the input
and writing the plan take for n models (``BEFORE_S_PER_MODEL``, ``AFTER_S_PER_MODEL``), times
``WORK_PER_SECOND``, which leaves room for a machine about a quarter slower than the reference.

The wall clock stays, as a safety cap only (the command's deadline): a step that reads ``now()``
after the cap gets a time past every deadline, so the engines wrap up with their best packing so
far, and the session records that it was ``capped``; that plan may differ on a rerun, and it says
so (``Plan.work_capped``). Outside a ``session`` (a direct call without one), ``now()`` is the
wall clock and ``spend`` does nothing: the old wall-time behaviour.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

# Work units per second of time limit left for the solve: the reference host does the budget in
# about 0.8 of the time the command has, so a host a quarter slower still finishes uncapped. At 0.5
# (its value until the engines' costs were recalibrated) 22 BPPLIB instances ended a bin above what
# the wall-clock engines found in 10 s; at 0.35 a busy host three times as slow still hit the cap at
# 10,000 models (benchmarks/results/bpplib.md).
WORK_PER_SECOND = 0.8
# Seconds per model outside the solve, measured on 10,000 random models at --time-limit 5 on the
# reference host: reading the profiles and building the problem (before), and numbering, checking
# and writing the plan (after; ``service`` caps the solve's wall clock that much before the command's).
BEFORE_S_PER_MODEL = 60e-6
AFTER_S_PER_MODEL = 100e-6
# At most this share of the time limit is set aside for the work around the solve.
AROUND_MOST_SHARE = 0.5
# Once capped, the work clock jumps this far past the session's end: past every deadline in it.
_PAST = 1e6


def budget(time_limit: float, models: int) -> float:
    """Work units a plan of ``models`` models may use under ``time_limit`` seconds (module docstring)."""
    around = min((BEFORE_S_PER_MODEL + AFTER_S_PER_MODEL) * models, AROUND_MOST_SHARE * time_limit)
    return WORK_PER_SECOND * max(0.0, time_limit - around)


@dataclass
class Meter:
    """One session's work: units spent, the budget's end, the wall-clock cap, and whether it bit."""

    spent: float
    end: float
    cap: float
    capped: bool = False

    def now(self) -> float:
        """Units spent, or past every deadline once the wall clock has reached the cap."""
        if not self.capped and time.monotonic() >= self.cap:
            self.capped = True
            self.spent = max(self.spent, self.end) + _PAST
        return self.spent


_METER: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("gpupack_work_meter", default=None)


@contextlib.contextmanager
def session(units: float, cap: float) -> Iterator[Meter]:
    """Meter the work inside: ``units`` of budget, the wall-clock ``cap`` (``time.monotonic()``).

    Re-entrant: inside a session, an inner one is the outer one (its budget and cap stand).
    """
    outer = _METER.get()
    if outer is not None:
        yield outer
        return
    meter = Meter(0.0, units, cap)
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)


def metered() -> bool:
    """True inside a ``session``."""
    return _METER.get() is not None


def now() -> float:
    """The work clock: units spent in this session (``time.monotonic()`` outside one)."""
    meter = _METER.get()
    return time.monotonic() if meter is None else meter.now()


def spend(units: float) -> None:
    """Charge ``units`` of work to the session (nothing outside one)."""
    meter = _METER.get()
    if meter is not None:
        meter.spent += units


def wall_left() -> float:
    """Seconds of wall time until the cap (inf outside a session): a solver's own safety limit."""
    meter = _METER.get()
    return math.inf if meter is None else meter.cap - time.monotonic()


def check_cap() -> None:
    """After a solver call that had ``wall_left`` as its limit: record the cap if it has passed."""
    meter = _METER.get()
    if meter is not None:
        meter.now()


def capped() -> bool:
    """True when this session's wall-clock cap has stopped some step before its work was done."""
    meter = _METER.get()
    return meter is not None and meter.capped


@contextlib.contextmanager
def until(units: float, cap: float | None = None) -> Iterator[float]:
    """An engine's deadline on the work clock: ``units`` from now (now itself once capped).

    Inside a session that is all; outside one (an engine called directly), a session of ``units``
    starts, its wall-clock cap ``cap`` (``time.monotonic()``; default: ``units`` seconds from now).
    """
    with session(units, time.monotonic() + units if cap is None else cap) as meter:
        start = meter.now()
        yield start if meter.capped else start + units
