"""Plan a placement: the packing engines (fewest GPUs), then CP-SAT's headroom stage, then the Plan."""

from __future__ import annotations

import time

from packer.ffd import decreasing_order
from packer.outcome import PackingOutcome
from packer.plan import Gpu, Plan
from packer.problem import GPU_UTIL, MEM_UTIL, Objective, Problem
from packer.scale import at_scale, pack_at_scale
from packer.vector_packing import SolverSettings, add_hint, build_model, extract, solve


def _gpus(problem: Problem, assignment: tuple[int, ...] | list[int]) -> tuple[Gpu, ...]:
    """Group items by GPU (renumbered 0.. in order of first use) and total each GPU's load."""
    renumber = {g: k for k, g in enumerate(dict.fromkeys(assignment))}
    members: list[list[int]] = [[] for _ in renumber]
    for i, g in enumerate(assignment):
        members[renumber[g]].append(i)
    server = problem.server_load
    gpus = []
    for k, items in enumerate(members):
        totals = [s + sum(problem.items[i].demand[r] for i in items) for r, s in enumerate(server)]
        util = {res: totals[r] for r, res in enumerate(problem.resources)}
        gpus.append(
            Gpu(
                index=k,
                points=tuple(problem.items[i].point for i in items),
                memory_mb=totals[0],
                gpu_util_pct=util.get(GPU_UTIL, _profiled_sum(problem, items, "gpu_util_pct")),
                mem_util_pct=util.get(MEM_UTIL, _profiled_sum(problem, items, "mem_util_pct")),
            )
        )
    return tuple(gpus)


def _profiled_sum(problem: Problem, items: list[int], attr: str) -> float:
    """A resource not packed is still reported: the sum of the models' profiled values (0 if absent)."""
    return sum(getattr(problem.items[i].point, attr) or 0.0 for i in items)


def plan(problem: Problem, settings: SolverSettings | None = None) -> Plan:
    """Solve ``problem``; always returns a feasible plan (first-fit decreasing's at worst).

    The engines of ``packer.scale`` find the fewest GPUs; if that count is proven, the throughput
    objective runs the headroom stage (lowest peak utilization at that GPU count) within the time left.
    """
    settings = settings or SolverSettings()
    started = time.perf_counter()
    demands, capacity = problem.scaled()
    outcome = pack_at_scale(demands, capacity, settings)
    count, lower = outcome.count, max(outcome.lower, problem.lower_bound())
    time_left = settings.max_time_in_seconds - (time.perf_counter() - started)
    wanted = problem.objective is Objective.THROUGHPUT and outcome.proven and count > 1 and time_left > 0
    if at_scale(demands, capacity) or not wanted:
        return _from_outcome(problem, outcome, started)
    order = decreasing_order(demands, capacity)
    best, notes = _numbered_by_first_model(list(outcome.assignment), order), list(outcome.notes)
    headroom = tuple(r for r, res in enumerate(problem.resources) if res in (GPU_UTIL, MEM_UTIL))
    model, variables = build_model(demands, capacity, order, count, lower, headroom, gpus=count)
    add_hint(model, variables, best)
    stage2 = SolverSettings(time_left, settings.num_workers, settings.random_seed, settings.debug)
    found = extract(solve(model, stage2), variables, len(demands), started)
    if found is not None:
        best = list(found.assignment)
        if not found.proven:
            notes.append("headroom (lowest peak utilization) not proven within the time limit")
    return Plan(
        objective=problem.objective,
        gpus=_gpus(problem, best),
        lower_bound=min(lower, count),
        optimal=True,
        solve_seconds=time.perf_counter() - started,
        gpu_memory_mb=problem.gpu_memory_mb,
        server_memory_mb=problem.server_memory_mb,
        ffd_gpu_count=outcome.ffd_count,
        solver_status=outcome.status,
        notes=tuple(notes),
    )


def _numbered_by_first_model(assignment: list[int], order: list[int]) -> list[int]:
    """GPUs renumbered in the order their first model comes in ``order`` (x[m, g]'s symmetry (5))."""
    renumber: dict[int, int] = {}
    for m in order:
        renumber.setdefault(assignment[m], len(renumber))
    return [renumber[g] for g in assignment]


def _from_outcome(problem: Problem, outcome: PackingOutcome, started: float) -> Plan:
    """The Plan for an outcome of ``packer.scale`` (one resource, or a fleet too large for x[m, g])."""
    return Plan(
        objective=problem.objective,
        gpus=_gpus(problem, outcome.assignment),
        lower_bound=max(outcome.lower, problem.lower_bound()),
        optimal=outcome.proven,
        solve_seconds=time.perf_counter() - started,
        gpu_memory_mb=problem.gpu_memory_mb,
        server_memory_mb=problem.server_memory_mb,
        ffd_gpu_count=outcome.ffd_count,
        solver_status=outcome.status,
        notes=outcome.notes,
    )
