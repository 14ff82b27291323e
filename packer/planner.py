"""Plan a placement: the plain problem to the bin-packing engines, any other to the choice search.

Both hand back a ``Solution`` (replicas placed, the goal's bound, the proof), which ``to_plan``
turns into the one ``Plan`` record: GPUs numbered by type then slot, each model's replicas, the
goal's value in real numbers and its bound.
"""

from __future__ import annotations

import time
from dataclasses import replace

from packer import work
from packer.binpacking.engines import pack
from packer.binpacking.packing import numbered_by_first_use
from packer.candidates import Option
from packer.choice.search import search
from packer.mig.plan import sliced_gpus
from packer.mig.search import search_sliced
from packer.plan import Gpu, ModelPlan, Plan
from packer.problem import Problem
from packer.progress import heartbeat
from packer.resources import GPU_UTIL, MEM_UTIL, Resource, limit_pct, units_down, units_up
from packer.settings import Goal, Objective, SolverSettings, remaining
from packer.solution import Placement, Solution

# Said when a plain problem's packing broke the co-location model and the choice search planned it.
COLOCATION_SEARCH_NOTE = (
    "packed by summed utilization, some models shared a GPU below their least predicted ratio: planned "
    "by the multiple-choice search instead (ties: highest total expected throughput)"
)
# The note a plan carries when the wall clock cut its work short (``Plan.stopped_by_time_limit``).
CAPPED_NOTE = "stopped by the time limit before its work budget: a rerun may differ (raise --time-limit)"


def plan(problem: Problem, settings: SolverSettings | None = None, deadline: float | None = None) -> Plan:
    """Solve ``problem``; always a feasible plan, or ``InputError`` when none exists.

    The solve's work is ``work.budget`` of the time limit and the problem's size, on the work clock
    (``packer.work``): each engine or CP-SAT call gets the work left at the moment it starts as its
    ``max_time_in_seconds`` (``remaining``), so the plan depends on the input and options only.
    ``deadline``, a ``time.monotonic()`` instant (default: ``settings.max_time_in_seconds`` from
    now), is a safety cap: if it stops the work early, the plan says so (``stopped_by_time_limit``).
    """
    settings = settings or SolverSettings()
    started = time.perf_counter()
    if deadline is None:
        deadline = time.monotonic() + settings.max_time_in_seconds
    units = work.budget(settings.max_time_in_seconds, len(problem.items))
    with work.until(units, deadline) as until, heartbeat(settings) as beating:
        if problem.sliced:
            solution = search_sliced(problem, beating, until)
        elif problem.plain:
            # With co-location the packing may not hold: it gets half the work, the search the rest.
            halfway = until if problem.colocation is None else (work.now() + until) / 2
            solution = _pack_plain(problem, beating, halfway)
            if not _colocation_holds(problem, solution):
                # Summed utilization put models together that would lose too much beside each other.
                solution = search(problem, beating, until)
                solution = replace(solution, notes=(*solution.notes, COLOCATION_SEARCH_NOTE))
        else:
            solution = search(problem, beating, until)
        capped = work.capped()
    result = to_plan(problem, solution, time.perf_counter() - started)
    if not capped:
        return result
    return replace(result, stopped_by_time_limit=True, notes=(*result.notes, CAPPED_NOTE))


def _pack_plain(problem: Problem, settings: SolverSettings, deadline: float) -> Solution:
    """The one-type, one-option problem as integer bin packing; ``throughput`` also levels utilization."""
    demands = [[units_up(d) for d in item.options[0].demand] for item in problem.items]
    capacity = [units_down(c) for c in problem.room[0]]
    headroom = ()
    if problem.objective is Objective.THROUGHPUT:
        headroom = tuple(r for r, res in enumerate(problem.resources) if res in (GPU_UTIL, MEM_UTIL))
    # The time left is measured after the demands are built, right before the engine starts.
    packing = pack(demands, capacity, remaining(settings, deadline), headroom)
    # GPUs numbered in order of first use by the models, in profile order.
    slots = numbered_by_first_use(packing.assignment)
    return Solution(
        placements=tuple(Placement(i, 0, g) for i, g in enumerate(slots)),
        proven=packing.proven,
        bound=float(packing.count if packing.proven else packing.lower),
        gpu_bound=packing.lower,
        status=packing.status,
        first_fit_gpus=packing.ffd_count,
        notes=packing.notes,
    )


def _colocation_holds(problem: Problem, solution: Solution) -> bool:
    """True when every GPU of a plain solution keeps its models' predicted ratios (``colocation``)."""
    if problem.colocation is None:
        return True
    on_gpu: dict[int, list] = {}
    for p in solution.placements:
        on_gpu.setdefault(p.slot, []).append(problem.items[p.item].options[p.option].point)
    return all(problem.colocation_holds(0, points) for points in on_gpu.values())


def _reported(problem: Problem, t: int, resource: Resource, options: list[Option]) -> float | None:
    """A GPU's total of ``resource``: packed, server once; else the models' profiled sum or unknown."""
    if problem.packs(t, resource):
        r = problem.resources.index(resource)
        return problem.server[t][r] + sum(o.demand[r] for o in options)
    values = [getattr(o.point, resource.attr) for o in options]
    # Not packed is still reported (the sum of the profiled values), but never an unmeasured zero.
    return None if all(v is None for v in values) else sum(v or 0.0 for v in values)


def _gpu(problem: Problem, index: int, t: int, options: list[Option]) -> Gpu:
    """A GPU of type t running ``options``: totals count the server once."""
    gpu_type = problem.types[t]
    return Gpu(
        index=index,
        points=tuple(o.point for o in options),
        memory_mb=problem.server[t][0] + sum(o.demand[0] for o in options),
        gpu_util_pct=_reported(problem, t, GPU_UTIL, options),
        mem_util_pct=_reported(problem, t, MEM_UTIL, options),
        gpu_type=gpu_type.name,
        cost_per_hour=gpu_type.cost_per_hour,
        gpu_memory_mb=gpu_type.memory_mb,
        product_label=gpu_type.product_label,
        ratios=problem.predicted_ratios(t, [o.point for o in options]),
    )


def _actual(problem: Problem, gpus: tuple[Gpu, ...], models: tuple[ModelPlan, ...]) -> float:
    """The goal's value of the plan in real numbers (the solver's integers round)."""
    if problem.goal is Goal.MIN_GPUS:
        return float(len(gpus))
    if problem.goal is Goal.MIN_COST:
        return sum(g.cost_per_hour or 0.0 for g in gpus)
    if problem.goal is Goal.MAX_THROUGHPUT:
        return sum(m.throughput for m in models)
    return min(m.target_fraction for m in models if m.target is not None)


def to_plan(problem: Problem, solution: Solution, seconds: float) -> Plan:
    """The Plan of ``solution``: GPUs numbered by type then slot, replicas, value and bound."""
    option_of = [[problem.items[p.item].options[p.option], p] for p in solution.placements]
    keys = sorted({(o.type_index, p.slot) for o, p in option_of})
    number = {key: n for n, key in enumerate(keys)}
    on_gpu: dict[int, list[Option]] = {n: [] for n in number.values()}
    replicas: list[list] = [[] for _ in problem.items]
    for option, p in sorted(option_of, key=lambda pair: (pair[1].item, pair[1].option, pair[1].slot)):
        n = number[option.type_index, p.slot]
        on_gpu[n].append(option)
        replicas[p.item].append((n, option.point))
    gpus = tuple(_gpu(problem, n, keys[n][0], on_gpu[n]) for n in range(len(keys)))
    gpus = sliced_gpus(problem, solution, keys, gpus)
    ratio_of = {(g.index, p.model): g.ratio(k) for g in gpus for k, p in enumerate(g.points) if g.ratios}
    replicas = [sorted(r, key=lambda r: r[0]) for r in replicas]
    models = tuple(
        ModelPlan(
            item.model,
            tuple(replicas[i]),
            item.target.throughput if item.target else None,
            item.target.max_latency_p99_ms if item.target else None,
            *(
                (item.target.unit, item.target.max_ttft_p99_ms, item.target.max_itl_p99_ms)
                if item.target
                else ()
            ),
            ratios=tuple(ratio_of.get((n, item.model), 1.0) for n, _ in replicas[i]) if ratio_of else (),
        )
        for i, item in enumerate(problem.items)
    )
    actual = _actual(problem, gpus, models)
    bound = actual if solution.proven else solution.bound
    bound = min(bound, actual) if problem.goal.minimizes else max(bound, actual)
    costs = [t.cost_per_hour for t in problem.types]
    return Plan(
        objective=problem.objective,
        goal=problem.goal,
        gpus=gpus,
        models=models,
        lower_bound=min(solution.gpu_bound, len(gpus)),
        optimal=solution.proven,
        objective_value=actual,
        objective_bound=bound,
        solve_seconds=seconds,
        solver_status=solution.status,
        ffd_gpu_count=solution.first_fit_gpus,
        total_cost_per_hour=None if None in costs else sum(g.cost_per_hour for g in gpus),
        gpu_budget=problem.gpu_budget,
        gpu_memory_mb=problem.types[0].memory_mb,
        server_memory_mb=problem.server[0][0],
        notes=problem.notes + solution.notes,
        limits_pct={
            r.name: limit_pct(r, problem.thresholds, problem.rules.headroom_pct) for r in problem.resources
        },
    )
