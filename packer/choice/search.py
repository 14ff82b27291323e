"""Search a multiple-choice problem: greedy, CP-SAT stage 1 (the goal), stage 2 (the tie-break).

The greedy (``choice.greedy``) gives the upper bound on GPUs per type and the warm start; the simple
bounds (``choice.params``) and CP-SAT's give the proof. When the time limit stops the search, the best
plan found is returned with its bound and gap; when CP-SAT finds none, the greedy's plan is. Each
CP-SAT stage gets the work left until the deadline when it starts (the work clock, ``packer.work``);
a model too large to build in that work (``BUILD_S_PER_VARIABLE``) is not built, and the greedy's
plan stands with its bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from packer import cpsat, work
from packer.choice.greedy import greedy
from packer.choice.model import add_hint, add_tie_break, build_model, extract, solve
from packer.choice.params import (
    COST_UNITS,
    FRACTION_UNITS,
    Params,
    bundle_bound,
    lower_bound,
    served_units,
    to_integers,
    upper_bound,
)
from packer.problem import Problem
from packer.progress import report
from packer.resources import UNITS
from packer.settings import Goal, SearchProgress, SolverSettings, remaining
from packer.solution import Placement, Solution
from profiler import GpupackError, InputError

TIE_BREAK_SHARE = 0.25
# Building the CP-SAT model costs about this much per x[i, o, k] variable, its constraints included
# (measured: 37–52 µs on the loaded 2-core development host, OR-Tools 9.12; 2.6 KB of memory each).
# A stage is skipped, the plan found so far standing with its bound, when its build would take more
# than half the time left or its variables would pass ``MAX_VARIABLES`` (~5 GB).
BUILD_S_PER_VARIABLE = 40e-6
MAX_VARIABLES = 2_000_000
# Each goal's value as progress reports it: (unit, factor on ``_real``'s value).
_SHOWN = {
    Goal.MIN_GPUS: ("GPUs", 1.0),
    Goal.MIN_COST: ("/h", 1.0),
    Goal.MAX_THROUGHPUT: ("infer/s", 1.0),
    Goal.MAX_TARGET_FRACTION: ("% of every target", 100.0),
}


def _shown(problem: Problem, value: int | None) -> float | None:
    """A goal value in the model's integers as progress shows it."""
    return None if value is None else _real(problem, value) * _SHOWN[problem.goal][1]


def _stage(problem: Problem, name: str) -> cpsat.Stage:
    """The CP-SAT stage on the goal, reporting in the goal's units."""
    unit, _ = _SHOWN[problem.goal]
    return cpsat.Stage(f"{problem.goal.value}, {name}", unit, 1 / _shown(problem, 1))


def _value(problem: Problem, params: Params, placements: tuple[Placement, ...]) -> int:
    """The goal's value of ``placements``, in the model's integers."""
    if problem.goal.minimizes:
        opened = {(params.option_type[p.item][p.option], p.slot) for p in placements}
        return sum(params.cost[t] for t, _ in opened)
    served = served_units(params, placements)
    if problem.goal is Goal.MAX_THROUGHPUT:
        return sum(served)
    return min(FRACTION_UNITS * s // tau for s, tau in zip(served, params.target, strict=True) if tau)


def _slots(problem: Problem, params: Params, found: tuple[Placement, ...] | None) -> list[int]:
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


def _better(problem: Problem, new: int, old: int | None) -> bool:
    return old is None or (new < old if problem.goal.minimizes else new > old)


def _tightened(problem: Problem, bound: int, solver_bound: float | None) -> int:
    if solver_bound is None:
        return bound
    if problem.goal.minimizes:
        return max(bound, math.ceil(solver_bound - 1e-6))
    return min(bound, math.floor(solver_bound + 1e-6))


def _no_plan(problem: Problem, status: str, settings: SolverSettings) -> GpupackError:
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


def _has_tie_break(problem: Problem) -> bool:
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


@dataclass(frozen=True)
class _Job:
    """What both stages read: the problem in integers, GPU slots per type, the bound L, the clock."""

    problem: Problem
    params: Params
    slots: list[int]
    lower: int
    settings: SolverSettings
    deadline: float


def _variables(params: Params, slots: list[int]) -> int:
    """How many x[i, o, k] variables the model on ``slots`` has: every option on every slot of its type."""
    return sum(slots[t] for types in params.option_type for t in types)


def _too_large(job: _Job) -> str | None:
    """Why CP-SAT can't be run by the deadline (the model too large to build in time), else None."""
    count = _variables(job.params, job.slots)
    left = job.deadline - work.now()
    if count <= MAX_VARIABLES and count * BUILD_S_PER_VARIABLE <= left / 2:
        return None
    return (
        f"the CP-SAT model ({count:,} placement variables) is too large to build and search in the "
        f"{job.settings.max_time_in_seconds:g} s time limit: the greedy plan stands, with its bound"
    )


def _stage1(job: _Job, search: _Search) -> None:
    """CP-SAT on the goal, from the greedy's hint, unless the greedy already meets the bound."""
    problem, params, slots, lower, settings = job.problem, job.params, job.slots, job.lower, job.settings
    if search.value is not None and search.value == search.bound:
        return
    too_large = _too_large(job)
    if too_large and search.best is not None:
        search.notes.append(too_large)
        return
    upper = search.value if problem.goal.minimizes else None
    work.spend(_variables(params, slots) * BUILD_S_PER_VARIABLE)
    model, variables = build_model(problem, params, slots, lower, upper)
    if search.best is not None:
        add_hint(model, params, variables, search.best)
    best, bound = _shown(problem, search.value), _shown(problem, search.bound)
    report(settings, SearchProgress(f"{problem.goal.value}, greedy", best, bound, _SHOWN[problem.goal][0]))
    outcome = extract(solve(model, remaining(settings, job.deadline), _stage(problem, "CP-SAT")), variables)
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


def _stage2(job: _Job, search: _Search) -> None:
    """CP-SAT on the tie-break, the goal kept at its value, within its share of the time limit."""
    problem, params, slots, lower, settings = job.problem, job.params, job.slots, job.lower, job.settings
    time_left = job.deadline - work.now()
    # The tie-break refines a plan already as good for the goal: it gets at most a share of the limit.
    time_left = min(time_left, TIE_BREAK_SHARE * settings.max_time_in_seconds)
    if not _has_tie_break(problem) or time_left <= 0 or _too_large(job):
        return
    work.spend(_variables(params, slots) * BUILD_S_PER_VARIABLE)
    model, variables = build_model(problem, params, slots, lower, None)
    add_tie_break(model, problem, variables, search.value)
    add_hint(model, params, variables, search.best)
    # The tie-break's objective mixes units: progress names the stage and the goal's value only.
    at = f"{_shown(problem, search.value):g} {_SHOWN[problem.goal][0]}"
    stage = cpsat.Stage(f"{problem.goal.value}, tie-break at {at}", values=False)
    outcome = extract(solve(model, replace(settings, max_time_in_seconds=time_left), stage), variables)
    if outcome.placements is not None:
        search.best, search.value = outcome.placements, _value(problem, params, outcome.placements)
        if outcome.status != "OPTIMAL":
            search.notes.append("the tie-break was not proven within the time limit")


def search(problem: Problem, settings: SolverSettings, deadline: float) -> Solution:
    """Solve ``problem`` by ``deadline`` (``packer.work.now()``; ``InputError`` if no plan exists).

    See the module docstring; each CP-SAT stage gets the time left when it starts.
    """
    params = to_integers(problem)
    found = greedy(problem, params)
    slots = _slots(problem, params, found)
    lower = lower_bound(problem, params, params.cost, targets=True) if problem.goal.minimizes else 0
    state = _Search(
        best=found,
        value=None if found is None else _value(problem, params, found),
        bound=lower if problem.goal.minimizes else upper_bound(problem, params, slots),
    )
    job = _Job(problem, params, slots, lower, settings, deadline)
    _stage1(job, state)
    _stage2(job, state)
    greedy_gpus = 0 if found is None else len({(params.option_type[p.item][p.option], p.slot) for p in found})
    gpu_bound = (
        state.bound
        if problem.goal is Goal.MIN_GPUS
        else lower_bound(problem, params, (1,) * len(problem.types), targets=problem.goal.minimizes)
    )
    return Solution(
        placements=state.best,
        proven=state.value == state.bound,
        bound=_real(problem, state.bound),
        gpu_bound=gpu_bound,
        status=state.status,
        first_fit_gpus=greedy_gpus,
        notes=tuple(state.notes),
    )


def _real(problem: Problem, value: int) -> float:
    """A goal value in the user's units: GPUs, cost per hour, infer/s or target fraction."""
    if problem.goal is Goal.MIN_GPUS:
        return float(value)
    if problem.goal is Goal.MIN_COST:
        return value / COST_UNITS
    return value / (UNITS if problem.goal is Goal.MAX_THROUGHPUT else FRACTION_UNITS)
