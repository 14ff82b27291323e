"""Plan a generalized problem: greedy, CP-SAT stage 1 (the goal), stage 2 (the tie-break), the Plan.

The greedy (``fleet_greedy``) gives the upper bound on GPUs per type and the warm start; the simple
bounds (``fleet_params``) and CP-SAT's give the proof. When the time limit stops the search, the best
plan found is returned with its bound and gap; when CP-SAT finds none, the greedy's plan is.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from packer.fleet import Goal
from packer.fleet_greedy import greedy
from packer.fleet_model import add_hint, add_tie_break, build_model, extract, solve
from packer.fleet_params import (
    COST_SCALE,
    FRACTION_SCALE,
    Params,
    Placement,
    bundle_bound,
    lower_bound,
    scale,
    upper_bound,
)
from packer.fleet_problem import FleetProblem
from packer.plan import Gpu, ModelPlan, Plan
from packer.problem import GPU_UTIL, MEM_UTIL, SCALE, SolverSettings
from profiler.errors import GpupackError, InputError

TIE_BREAK_SHARE = 0.25


def _value(problem: FleetProblem, params: Params, placements: tuple[Placement, ...]) -> int:
    """The goal's value of ``placements``, in the model's integers."""
    if problem.goal.minimizes:
        opened = {(params.option_type[p.item][p.option], p.slot) for p in placements}
        return sum(params.cost[t] for t, _ in opened)
    served = [0] * len(params.target)
    for p in placements:
        served[p.item] += params.throughput[p.item][p.option]
    if problem.goal is Goal.MAX_THROUGHPUT:
        return sum(served)
    return min(FRACTION_SCALE * s // tau for s, tau in zip(served, params.target, strict=True) if tau)


def _slots(problem: FleetProblem, params: Params, found: tuple[Placement, ...] | None) -> list[int]:
    """GPUs per type the model may open: the count available, the budget, and what can pay off."""
    if problem.gpu_budget is not None:
        return [min(t.count or problem.gpu_budget, problem.gpu_budget) for t in problem.types]
    most = bundle_bound(problem, params)
    slots = []
    for t, gpu_type in enumerate(problem.types):
        n = most if gpu_type.count is None else min(gpu_type.count, most)
        if found is not None:
            opened = len({p.slot for p in found if params.option_type[p.item][p.option] == t})
            # A cheaper plan cannot hold more GPUs of type t than the greedy's cost buys.
            n = min(max(n, opened), _value(problem, params, found) // params.cost[t])
        slots.append(n)
    return slots


def _better(problem: FleetProblem, new: int, old: int | None) -> bool:
    return old is None or (new < old if problem.goal.minimizes else new > old)


def _tightened(problem: FleetProblem, bound: int, solver_bound: float | None) -> int:
    if solver_bound is None:
        return bound
    if problem.goal.minimizes:
        return max(bound, math.ceil(solver_bound - 1e-6))
    return min(bound, math.floor(solver_bound + 1e-6))


def _no_plan(problem: FleetProblem, status: str, settings: SolverSettings) -> GpupackError:
    if status == "INFEASIBLE":
        budget = f" on {problem.gpu_budget} GPUs" if problem.gpu_budget else " with the GPUs available"
        return InputError(
            f"no plan places every model{budget} under these thresholds, targets and rules",
            "relax a rule or threshold, raise the GPU counts (fleet file) or --gpus, or lower the targets",
        )
    return GpupackError(
        f"no plan found within the {settings.max_time_in_seconds:g} s time limit "
        "(the greedy found none either)",
        "raise --time-limit",
    )


def _has_tie_break(problem: FleetProblem) -> bool:
    """Min goals break ties on throughput only when it can differ between plans."""
    return not problem.goal.minimizes or problem.has_targets or any(len(i.options) > 1 for i in problem.items)


@dataclass
class _Search:
    """The search so far: the best replicas, the goal's value and proven bound, status and notes."""

    best: tuple[Placement, ...] | None
    value: int | None
    bound: int
    status: str = "FFD"
    notes: list[str] = field(default_factory=list)


def _stage1(
    problem: FleetProblem,
    params: Params,
    slots: list[int],
    lower: int,
    search: _Search,
    settings: SolverSettings,
    started: float,
) -> None:
    """CP-SAT on the goal, from the greedy's hint, unless the greedy already meets the bound."""
    if search.value is not None and search.value == search.bound:
        return
    upper = search.value if problem.goal.minimizes else None
    model, variables = build_model(problem, params, slots, lower, upper)
    if search.best is not None:
        add_hint(model, params, variables, search.best)
    outcome = extract(solve(model, settings), params, variables, started)
    if outcome.placements is not None:
        new = _value(problem, params, outcome.placements)
        if _better(problem, new, search.value) or outcome.status == "OPTIMAL":
            search.best, search.value = outcome.placements, new
        search.status, search.bound = outcome.status, _tightened(problem, search.bound, outcome.bound)
    elif search.best is None or outcome.status == "INFEASIBLE":
        raise _no_plan(problem, outcome.status, settings)
    else:
        search.notes.append(
            f"CP-SAT found no plan in {settings.max_time_in_seconds:g} s; using the greedy plan"
        )


def _stage2(
    problem: FleetProblem,
    params: Params,
    slots: list[int],
    lower: int,
    search: _Search,
    settings: SolverSettings,
    started: float,
) -> None:
    """CP-SAT on the tie-break, the goal kept at its value, within its share of the time limit."""
    time_left = settings.max_time_in_seconds - (time.perf_counter() - started)
    # The tie-break refines a plan already as good for the goal: it gets at most a share of the limit.
    time_left = min(time_left, TIE_BREAK_SHARE * settings.max_time_in_seconds)
    if not _has_tie_break(problem) or time_left <= 0:
        return
    model, variables = build_model(problem, params, slots, lower, None)
    add_tie_break(model, problem, variables, search.value)
    add_hint(model, params, variables, search.best)
    stage2 = SolverSettings(time_left, settings.num_workers, settings.random_seed, settings.debug)
    outcome = extract(solve(model, stage2), params, variables, started)
    if outcome.placements is not None:
        search.best, search.value = outcome.placements, _value(problem, params, outcome.placements)
        if outcome.status != "OPTIMAL":
            search.notes.append("the tie-break was not proven within the time limit")


def plan_fleet(problem: FleetProblem, settings: SolverSettings | None = None) -> Plan:
    """Solve ``problem``; returns the best plan found with its bound (``InputError`` if none exists)."""
    settings = settings or SolverSettings()
    started = time.perf_counter()
    params = scale(problem)
    found = greedy(problem, params)
    slots = _slots(problem, params, found)
    lower = lower_bound(problem, params, params.cost, targets=True) if problem.goal.minimizes else 0
    search = _Search(
        best=found,
        value=None if found is None else _value(problem, params, found),
        bound=lower if problem.goal.minimizes else upper_bound(problem, params, slots),
    )
    _stage1(problem, params, slots, lower, search, settings, started)
    _stage2(problem, params, slots, lower, search, settings, started)
    greedy_gpus = 0 if found is None else len({(params.option_type[p.item][p.option], p.slot) for p in found})
    return _to_plan(problem, params, search, greedy_gpus, started)


def _gpu(problem: FleetProblem, index: int, t: int, points: list) -> Gpu:
    """A GPU of type t running ``points`` (each as an Option): totals count the server once."""
    totals = {}
    for r, resource in enumerate(problem.resources):
        totals[resource] = problem.server[t][r] + sum(o.demand[r] for o in points)
    gpu_type = problem.types[t]
    return Gpu(
        index=index,
        points=tuple(o.point for o in points),
        memory_mb=totals[problem.resources[0]],
        # A resource not packed is still reported: the sum of the models' profiled values.
        gpu_util_pct=totals.get(GPU_UTIL, sum(o.point.gpu_util_pct or 0.0 for o in points)),
        mem_util_pct=totals.get(MEM_UTIL, sum(o.point.mem_util_pct or 0.0 for o in points)),
        gpu_type=gpu_type.name,
        cost_per_hour=gpu_type.cost_per_hour,
        gpu_memory_mb=gpu_type.memory_mb,
    )


def _real(problem: FleetProblem, value: int) -> float:
    """A goal value in the user's units: GPUs, cost per hour, infer/s or target fraction."""
    if problem.goal is Goal.MIN_GPUS:
        return float(value)
    if problem.goal is Goal.MIN_COST:
        return value / COST_SCALE
    return value / (SCALE if problem.goal is Goal.MAX_THROUGHPUT else FRACTION_SCALE)


def _actual(problem: FleetProblem, gpus: tuple[Gpu, ...], models: tuple[ModelPlan, ...]) -> float:
    """The goal's value of the plan in real numbers (the integers round)."""
    if problem.goal is Goal.MIN_GPUS:
        return float(len(gpus))
    if problem.goal is Goal.MIN_COST:
        return sum(g.cost_per_hour or 0.0 for g in gpus)
    if problem.goal is Goal.MAX_THROUGHPUT:
        return sum(m.throughput for m in models)
    return min(m.target_fraction for m in models if m.target is not None)


def _to_plan(
    problem: FleetProblem, params: Params, search: _Search, greedy_gpus: int, started: float
) -> Plan:
    """The Plan: GPUs numbered by type then slot, each model's replicas, the goal's value and bound."""
    keys = sorted({(params.option_type[p.item][p.option], p.slot) for p in search.best})
    number = {key: n for n, key in enumerate(keys)}
    on_gpu: dict[int, list] = {n: [] for n in number.values()}
    replicas: list[list] = [[] for _ in problem.items]
    for p in sorted(search.best, key=lambda p: (p.item, p.option, p.slot)):
        option = problem.items[p.item].options[p.option]
        n = number[option.type_index, p.slot]
        on_gpu[n].append(option)
        replicas[p.item].append((n, option.point))
    gpus = tuple(_gpu(problem, n, keys[n][0], on_gpu[n]) for n in range(len(keys)))
    models = tuple(
        ModelPlan(
            item.model,
            tuple(sorted(replicas[i], key=lambda r: r[0])),
            item.target.throughput if item.target else None,
            item.target.max_latency_p99_ms if item.target else None,
        )
        for i, item in enumerate(problem.items)
    )
    proven = search.value == search.bound
    actual = _actual(problem, gpus, models)
    real_bound = actual if proven else _real(problem, search.bound)
    real_bound = min(real_bound, actual) if problem.goal.minimizes else max(real_bound, actual)
    count_bound = (
        search.bound
        if problem.goal is Goal.MIN_GPUS
        else lower_bound(problem, params, (1,) * len(problem.types), targets=problem.goal.minimizes)
    )
    costs = [t.cost_per_hour for t in problem.types]
    return Plan(
        objective=problem.objective,
        gpus=gpus,
        lower_bound=min(count_bound, len(gpus)),
        optimal=proven,
        solve_seconds=time.perf_counter() - started,
        gpu_memory_mb=problem.types[0].memory_mb,
        server_memory_mb=problem.server[0][0],
        ffd_gpu_count=greedy_gpus,
        solver_status=search.status,
        notes=tuple(search.notes),
        goal=problem.goal.value,
        objective_value=actual,
        objective_bound=real_bound,
        total_cost_per_hour=None if None in costs else sum(g.cost_per_hour for g in gpus),
        gpu_budget=problem.gpu_budget,
        models=models,
    )
