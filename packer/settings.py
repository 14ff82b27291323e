"""What a plan is asked to optimize and how hard to search: objective, goal, thresholds, solver.

These small types are shared by every layer of the packer (problem, engines, plan, report) and by
the CLI; of the packer they import only the work clock (``packer.work``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass

from packer import work
from profiler import InputError


class Objective(str, enum.Enum):
    """Which resources a plan packs: GPU memory alone, or memory and both utilizations."""

    MIN_GPUS = "min-gpus"
    THROUGHPUT = "throughput"


class Goal(str, enum.Enum):
    """The primary objective; every goal has a tie-break (``choice.model`` stage 2)."""

    MIN_GPUS = "min-gpus"  # then: highest min target fraction, or highest total throughput
    MIN_COST = "min-cost"  # same tie-breaks
    MAX_THROUGHPUT = "max-throughput"  # on a budget of GPUs; then: lowest cost
    MAX_TARGET_FRACTION = "max-target-fraction"  # on a budget, with targets; then: lowest cost

    @property
    def minimizes(self) -> bool:
        """True for the goals that minimize GPUs or cost."""
        return self in (Goal.MIN_GPUS, Goal.MIN_COST)


@dataclass(frozen=True)
class Thresholds:
    """Per-GPU limits, percent of capacity; above 100 oversubscribes (the blog allows it)."""

    max_memory_pct: float = 100.0
    max_gpu_util_pct: float = 100.0
    max_mem_util_pct: float = 100.0

    def __post_init__(self) -> None:
        for name in ("max_memory_pct", "max_gpu_util_pct", "max_mem_util_pct"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name.replace('_pct', '').replace('_', '-')} must be above 0 %")


@dataclass(frozen=True)
class SearchProgress:
    """Where a search stands: its stage, the best value found and the proven bound, in ``unit``.

    ``seconds`` counts from the start of the plan's search; ``None`` values are not known yet.
    """

    stage: str
    best: float | None = None
    bound: float | None = None
    unit: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class SolverSettings:
    """Passed through to CP-SAT. ``num_workers`` 0 means all cores; ``debug`` prints the search log.

    ``progress``, when set, receives the search's progress (``packer.progress``: every few seconds).
    Inside a plan (a ``packer.work`` session), ``max_time_in_seconds`` is work units, not wall time.
    ``deadline``, when set, is a wall-clock cap (a ``time.monotonic()`` timestamp) for an engine
    called on its own (outside a session); it stops the work early, as a plan's cap does.
    """

    max_time_in_seconds: float = 10.0
    num_workers: int = 0
    random_seed: int = 0
    debug: bool = False
    progress: Callable[[SearchProgress], None] | None = None
    deadline: float | None = None


@dataclass(frozen=True)
class Selection:
    """Which profiled points a model may use; ``None`` fields do not filter."""

    batch_size: int | None = None
    concurrency: int | None = None


ANY_POINT = Selection()


# The least time a solver call is given, even past the deadline: enough for first-fit decreasing and
# its bound on any fleet (the engines return their best so far when their time runs out).
MIN_SOLVE_S = 0.05


def remaining(settings: SolverSettings, deadline: float) -> SolverSettings:
    """``settings`` whose limit is the work left until ``deadline`` (``packer.work.now()``).

    The planner and the choice search call it right before each engine or CP-SAT call, so that the
    plan's work budget bounds the whole solve; at least ``MIN_SOLVE_S``.
    """
    return dataclasses.replace(settings, max_time_in_seconds=max(MIN_SOLVE_S, deadline - work.now()))
