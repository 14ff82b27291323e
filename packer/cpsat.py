"""Running CP-SAT the same way everywhere: the user's time limit, workers and seed, deterministic."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ortools.sat.python import cp_model

from packer.settings import SearchProgress, SolverSettings

# CP-SAT rejects a time limit of 0; a stage left with no time still gets this long.
MIN_SECONDS = 0.01


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
    """Solve ``model`` for ``seconds`` (default: the settings' limit); the solver holds the result.

    The parallel search is interleaved (``interleave_search``), which makes it deterministic: the
    same input gives the same plan whatever the thread timing. The search log only with ``debug``.
    With ``settings.progress``, each new solution and bound is reported (``stage`` names them).
    """
    solver = cp_model.CpSolver()
    limit = settings.max_time_in_seconds if seconds is None else seconds
    solver.parameters.max_time_in_seconds = max(limit, MIN_SECONDS)
    if settings.num_workers:
        solver.parameters.num_workers = settings.num_workers
    solver.parameters.random_seed = settings.random_seed
    solver.parameters.interleave_search = True
    solver.parameters.log_search_progress = settings.debug
    if settings.progress is None:
        solver.solve(model)
        return solver
    progress = _Progress(settings, stage or Stage())
    if model.has_objective():
        solver.best_bound_callback = progress.on_bound
    solver.solve(model, progress)
    return solver
