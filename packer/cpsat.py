"""Running CP-SAT the same way everywhere: a work limit, fixed workers and the seed: deterministic.

Inside a work session (``packer.work``) a call's limit is work units, given to CP-SAT as
``max_deterministic_time`` (its own deterministic clock, about seconds on the reference host), and
the deterministic time it reports is spent; the wall-clock cap is only ``max_time_in_seconds``. With
``interleave_search`` and a fixed ``num_workers`` (never "all cores", which depends on the machine),
the same model gives the same answer on an idle machine and a busy one (checked: a 90-item
fixed-bins model, 4 and 8 workers, once beside two busy loops; the answer and the reported
deterministic time were identical, as they were not without interleaving).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ortools.sat.python import cp_model

from packer import work
from packer.settings import SearchProgress, SolverSettings

# CP-SAT rejects a time limit of 0; a stage left with no time still gets this long.
MIN_SECONDS = 0.01
# Workers when the settings say 0: fixed, so that a plan does not depend on the machine's cores.
DEFAULT_WORKERS = 4
# Subsolver tasks per interleaved batch: CP-SAT checks its deterministic limit between batches, and
# its default batch (one task per worker and more) overran a 1.0 limit five times over on a 200-item
# fixed-bins model (5.13 reported, 3.6 s); with one task a batch it stops at the limit.
INTERLEAVE_BATCH = 1
# Work per call besides the deterministic time CP-SAT reports: loading the model and starting the
# workers (measured on the reference host: ~4 ms for a small repair model that reports ~0).
CALL_S = 3e-3


def set_limits(parameters, units: float) -> None:  # noqa: ANN001 (a SatParameters protobuf)
    """A call's limits: ``units`` of work as CP-SAT's deterministic time, the wall cap as its time.

    Outside a work session, ``units`` are seconds of wall time, as before.
    """
    units = max(units, MIN_SECONDS)
    if work.metered():
        parameters.max_deterministic_time = units
        parameters.max_time_in_seconds = max(work.wall_left(), MIN_SECONDS)
    else:
        parameters.max_time_in_seconds = units


def account(solver: cp_model.CpSolver) -> None:
    """Spend the deterministic time CP-SAT reports, and note the wall cap if it stopped the call."""
    work.spend(CALL_S + solver.response_proto.deterministic_time)
    work.check_cap()


@dataclass(frozen=True)
class Stage:
    """What a CP-SAT model's objective means, to report progress: its name, unit and scale.

    The reported value is the objective divided by ``scale`` (the model's integers are hundredths
    of a %, thousandths of a cost unit, ...); ``unit`` follows it (``GPUs``, ``infer/s``). An
    objective that means nothing to the user (a weighted tie-break) is not reported (``values``).
    """

    name: str = "CP-SAT search"
    unit: str = ""
    scale: float = 1.0
    values: bool = True


class _Progress(cp_model.CpSolverSolutionCallback):
    """Reports each new solution's objective and the best bound to ``settings.progress``."""

    def __init__(self, settings: SolverSettings, stage: Stage) -> None:
        super().__init__()
        self._settings, self._stage = settings, stage
        self._lock = threading.Lock()
        self._best: float | None = None
        self._bound: float | None = None

    def _report(self) -> None:
        stage, best, bound = self._stage, self._best, self._bound
        scaled = [None if v is None or not stage.values else v / stage.scale for v in (best, bound)]
        self._settings.progress(SearchProgress(stage.name, scaled[0], scaled[1], stage.unit))  # type: ignore[misc]

    def on_solution_callback(self) -> None:
        """A new best solution: its objective and CP-SAT's bound."""
        with self._lock:
            self._best, self._bound = self.objective_value, self.best_objective_bound
            self._report()

    def on_bound(self, bound: float) -> None:
        """CP-SAT proved a better bound."""
        with self._lock:
            self._bound = bound
            self._report()


def run(
    model: cp_model.CpModel,
    settings: SolverSettings,
    seconds: float | None = None,
    stage: Stage | None = None,
) -> cp_model.CpSolver:
    """Solve ``model`` for ``seconds`` of work (default: the settings' limit); the solver holds the result.

    The parallel search is interleaved (``interleave_search``) over a fixed number of workers
    (``DEFAULT_WORKERS`` unless set), which makes it deterministic: the same input gives the same
    plan whatever the thread timing (module docstring). The search log only with ``debug``.
    With ``settings.progress``, each new solution and bound is reported (``stage`` names them).
    """
    solver = cp_model.CpSolver()
    limit = settings.max_time_in_seconds if seconds is None else seconds
    set_limits(solver.parameters, limit)
    solver.parameters.num_workers = settings.num_workers or DEFAULT_WORKERS
    solver.parameters.random_seed = settings.random_seed
    solver.parameters.interleave_search = True
    solver.parameters.interleave_batch_size = INTERLEAVE_BATCH
    solver.parameters.log_search_progress = settings.debug
    if settings.progress is None:
        solver.solve(model)
    else:
        progress = _Progress(settings, stage or Stage())
        if model.has_objective():
            solver.best_bound_callback = progress.on_bound
        solver.solve(model, progress)
    account(solver)
    return solver
