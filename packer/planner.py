"""Plan a placement: first-fit decreasing, then CP-SAT (fewest GPUs, then headroom), then the Plan."""

from __future__ import annotations

import time

from packer.ffd import decreasing_order, first_fit_decreasing
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
    """Solve ``problem``; always returns a feasible plan (first-fit decreasing's if CP-SAT finds none).

    Stage 1 minimizes GPUs from FFD's hint; if proven, the throughput objective runs stage 2 (lowest
    peak utilization at that GPU count) within the time left.
    """
    settings = settings or SolverSettings()
    started = time.perf_counter()
    demands, capacity = problem.scaled()
    if at_scale(demands, capacity):
        return _from_outcome(problem, pack_at_scale(demands, capacity, settings), started)
    order = decreasing_order(demands, capacity)
    ffd = first_fit_decreasing(demands, capacity)
    ffd_count = max(ffd) + 1
    lower = problem.lower_bound()
    best, status, proven, notes = list(ffd), "FFD", ffd_count == lower, []
    if not proven:
        model, variables = build_model(demands, capacity, order, ffd_count, lower)
        add_hint(model, variables, ffd)
        found = extract(solve(model, settings), variables, len(demands), started)
        if found is None:
            notes.append(
                f"CP-SAT found no plan in {settings.max_time_in_seconds:g} s; using first-fit decreasing"
            )
        else:
            lower = max(lower, found.bound)
            status, proven = found.status, found.proven or max(found.assignment) + 1 == lower
            if max(found.assignment) + 1 <= ffd_count:
                best = list(found.assignment)
    count = max(best) + 1
    headroom = tuple(r for r, res in enumerate(problem.resources) if res in (GPU_UTIL, MEM_UTIL))
    time_left = settings.max_time_in_seconds - (time.perf_counter() - started)
    if problem.objective is Objective.THROUGHPUT and proven and count > 1 and time_left > 0:
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
        optimal=proven,
        solve_seconds=time.perf_counter() - started,
        gpu_memory_mb=problem.gpu_memory_mb,
        server_memory_mb=problem.server_memory_mb,
        ffd_gpu_count=ffd_count,
        solver_status=status,
        notes=tuple(notes),
    )


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
