"""Running CP-SAT the same way everywhere: the user's time limit, workers and seed, deterministic."""

from __future__ import annotations

from ortools.sat.python import cp_model

from packer.settings import SolverSettings

# CP-SAT rejects a time limit of 0; a stage left with no time still gets this long.
MIN_SECONDS = 0.01


def run(model: cp_model.CpModel, settings: SolverSettings, seconds: float | None = None) -> cp_model.CpSolver:
    """Solve ``model`` for ``seconds`` (default: the settings' limit); the solver holds the result.

    The parallel search is interleaved (``interleave_search``), which makes it deterministic: the
    same input gives the same plan whatever the thread timing. The search log only with ``debug``.
    """
    solver = cp_model.CpSolver()
    limit = settings.max_time_in_seconds if seconds is None else seconds
    solver.parameters.max_time_in_seconds = max(limit, MIN_SECONDS)
    if settings.num_workers:
        solver.parameters.num_workers = settings.num_workers
    solver.parameters.random_seed = settings.random_seed
    solver.parameters.interleave_search = True
    solver.parameters.log_search_progress = settings.debug
    solver.solve(model)
    return solver
