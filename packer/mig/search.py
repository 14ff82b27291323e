"""Search a problem with MIG types: a first-fit plan on servers, the slice-aware bound, then CP-SAT.

The greedy places replicas largest first on the first server (the whole GPU, or a slice) with room,
else on a new slice of an open GPU (the smallest that fits and keeps the layout valid), else on a
new GPU of the cheapest type; it runs once preferring slices and once preferring whole GPUs and keeps
the cheaper plan. It caps the GPUs per type and warm-starts CP-SAT (``mig.model``); ``bins.slice_bound``
gives the proof. Only the min goals (fewest GPUs, lowest cost) are planned with slices. A second CP-SAT
stage keeps the cost and breaks ties as the multiple-choice planner does (``_tie_break``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from packer import cpsat
from packer.choice.params import COST_UNITS, FRACTION_UNITS, Params, bundle_bound, to_integers
from packer.mig.bins import Bin, Fit, fits, slice_bound, type_bins
from packer.mig.model import Built, add_hint, build_model, extract
from packer.problem import Problem
from packer.settings import Goal, SolverSettings, remaining
from packer.solution import Placement, Solution
from profiler import GpupackError, InputError

# The tie-break refines a plan already as good for the goal: it gets at most this share of the limit.
TIE_BREAK_SHARE = 0.25


@dataclass
class _Gpu:
    """An open GPU: its type, slot, and per open bin the load and the items on it."""

    type: int
    slot: int
    load: dict[int, list[int]] = field(default_factory=dict)
    items: dict[int, set[int]] = field(default_factory=dict)

    def taken(self, bins: tuple[Bin, ...]) -> set[int]:
        """Memory slices held by the open bins."""
        return {j for b in self.load for j in bins[b].positions}


class _Greedy:
    def __init__(self, problem: Problem, params: Params, bins: list[tuple[Bin, ...]], slices_first: bool):
        self.problem, self.params, self.bins = problem, params, bins
        self.slices_first = slices_first
        self.gpus: list[_Gpu] = []
        self.placements: list[Placement] = []
        index = {item.model: i for i, item in enumerate(problem.items)}
        self.apart: dict[int, set[int]] = {i: set() for i in range(len(problem.items))}
        for a, b in problem.rules.apart_pairs:
            self.apart[index[a]].add(index[b])
            self.apart[index[b]].add(index[a])

    def _room(self, gpu: _Gpu, i: int, f: Fit) -> bool:
        members = gpu.items.get(f.bin, set())
        if i in members or self.apart[i] & members:
            return False
        most = self.problem.rules.max_models_per_gpu
        if most is not None and len(members) >= most:
            return False
        load = gpu.load.get(f.bin, [0] * len(f.demand))
        return all(x + d <= c for x, d, c in zip(load, f.demand, self.bins[f.type][f.bin].room, strict=True))

    def _opens(self, gpu: _Gpu, f: Fit) -> bool:
        """True when bin ``f.bin`` can be added to ``gpu``'s layout."""
        where = self.bins[gpu.type][f.bin]
        return f.bin not in gpu.load and not (set(where.positions) & gpu.taken(self.bins[gpu.type]))

    def _put(self, gpu: _Gpu, i: int, f: Fit) -> None:
        load = gpu.load.setdefault(f.bin, [0] * len(f.demand))
        gpu.load[f.bin] = [x + d for x, d in zip(load, f.demand, strict=True)]
        gpu.items.setdefault(f.bin, set()).add(i)
        where = self.bins[gpu.type][f.bin]
        part = None if where.profile is None else (where.start, where.profile)
        self.placements.append(Placement(i, f.option, gpu.slot, part))

    def _order(self, f: Fit) -> tuple:
        """New bins: slices (smallest span first) before the whole GPU, or the other way round."""
        where = self.bins[f.type][f.bin]
        whole = where.profile is None
        return (whole if self.slices_first else not whole, where.span, where.compute, where.start)

    def place(self, i: int, options: list[Fit]) -> bool:
        """One replica of item ``i`` at one of ``options``: an open server, a new slice, a new GPU."""
        for gpu in self.gpus:
            for f in options:
                if f.type == gpu.type and f.bin in gpu.load and self._room(gpu, i, f):
                    self._put(gpu, i, f)
                    return True
        ordered = sorted(options, key=self._order)
        for gpu in self.gpus:
            for f in ordered:
                if f.type == gpu.type and self._opens(gpu, f) and self._room(gpu, i, f):
                    self._put(gpu, i, f)
                    return True
        for f in sorted(ordered, key=lambda f: self.params.cost[f.type]):
            count = self.problem.types[f.type].count
            opened = sum(1 for g in self.gpus if g.type == f.type)
            if count is None or opened < count:
                gpu = _Gpu(f.type, opened)
                self.gpus.append(gpu)
                self._put(gpu, i, f)
                return True
        return False


def _greedy(
    problem: Problem, params: Params, bins: list[tuple[Bin, ...]], found: list[list[Fit]], slices_first: bool
) -> tuple[Placement, ...] | None:
    """A feasible plan, or ``None`` (together groups are left to CP-SAT)."""
    if any(len(g) > 1 for g in problem.groups):
        return None
    state = _Greedy(problem, params, bins, slices_first)

    def size(i: int) -> float:
        return min(
            (
                max(d / max(c, 1) for d, c in zip(f.demand, params.room[f.type], strict=True))
                for f in found[i]
            ),
            default=0,
        )

    for i in sorted(range(len(found)), key=lambda i: (-size(i), i)):
        tau = params.target[i]
        if tau is None:
            if not state.place(i, found[i]):
                return None
            continue
        served = 0
        fastest = sorted(found[i], key=lambda f: -params.throughput[i][f.option])
        while served < tau:
            before = len(state.placements)
            if not state.place(i, fastest):
                return None
            served += params.throughput[i][state.placements[before].option]
    return tuple(state.placements)


def _cost(params: Params, problem: Problem, placements: tuple[Placement, ...]) -> int:
    return sum(params.cost[t] for t, _ in _gpus(problem, placements))


def _slots(problem: Problem, params: Params, value: int | None) -> list[int]:
    """GPUs per type the model may open: the count, what can pay off, and the greedy's cost."""
    most = bundle_bound(problem, params)
    slots = []
    for t, gpu_type in enumerate(problem.types):
        n = most if gpu_type.count is None else min(gpu_type.count, most)
        if value is not None:
            n = min(n, value // params.cost[t])
        slots.append(max(n, 0))
    return slots


@dataclass
class _Found:
    """The search so far: the best replicas, their cost, the proven bound, the status and notes."""

    best: tuple[Placement, ...] | None
    value: int | None
    bound: int
    status: str = "FFD"
    notes: list[str] = field(default_factory=list)


def _time_left(settings: SolverSettings, deadline: float, share: float = 1.0) -> SolverSettings:
    """``settings`` with the time left until ``deadline``, at most ``share`` of the whole limit."""
    left = remaining(settings, deadline)
    return replace(
        left, max_time_in_seconds=min(left.max_time_in_seconds, share * settings.max_time_in_seconds)
    )


def _stage1(problem: Problem, params: Params, job: tuple, found: _Found, settings: SolverSettings) -> None:
    """CP-SAT on the cost, from the greedy's hint, unless the greedy already meets the bound."""
    bins, fitting, deadline = job
    if found.value is not None and found.value <= found.bound:
        return
    slots = _slots(problem, params, found.value)
    built = build_model(problem, params, bins, fitting, slots, (found.bound, found.value))
    if found.best is not None:
        add_hint(built, found.best)
    unit = "GPUs" if problem.goal is Goal.MIN_GPUS else "/h"
    scale = 1 if problem.goal is Goal.MIN_GPUS else COST_UNITS
    stage = cpsat.Stage(f"{problem.goal.value}, MIG", unit, scale)
    status, placements, solver_bound = extract(
        cpsat.run(built.model, _time_left(settings, deadline), stage=stage), built
    )
    if placements is not None:
        new = _cost(params, problem, placements)
        if found.value is None or new <= found.value:
            found.best, found.value = placements, new
        found.status = status
        if solver_bound is not None:
            found.bound = max(found.bound, math.ceil(solver_bound - 1e-6))
        if status == "OPTIMAL":
            found.bound = found.value
    elif found.best is None:
        raise _no_plan(status, settings)
    else:
        found.notes.append(
            f"CP-SAT found no plan in {settings.max_time_in_seconds:g} s; using the greedy plan"
        )


def _tie_break(built: Built, params: Params) -> None:
    """The multiple-choice planner's tie-break: the worst target's margin z, then fewest replicas.

    Without targets: the most total throughput (the points chosen).
    """
    model, x = built.model, built.variables.x
    served: list[list] = [[] for _ in params.target]
    for (i, o, _, _), v in x.items():
        served[i].append(params.throughput[i][o] * v)
    targeted = [i for i, tau in enumerate(params.target) if tau is not None]
    if not targeted:
        model.maximize(sum(w for terms in served for w in terms))
        return
    most = max(
        FRACTION_UNITS * sum(params.throughput[i][o] for (i, o, _, _) in x if i == j) for j in targeted
    )
    # z = min over targeted models of served / target, in 1/FRACTION_UNITS
    z = model.new_int_var(0, max(most, FRACTION_UNITS), "z")
    for i in targeted:
        model.add(FRACTION_UNITS * sum(served[i]) >= z * params.target[i])
    model.maximize((len(x) + 1) * z - sum(x.values()))


def _stage2(problem: Problem, params: Params, job: tuple, found: _Found, settings: SolverSettings) -> None:
    """The tie-break (``_tie_break``) with the cost kept at most the goal's value, in a share of the time."""
    bins, fitting, deadline = job
    choices = problem.has_targets or any(len(item.options) > 1 for item in problem.items)
    if not choices or found.best is None:
        return
    slots = _slots(problem, params, found.value)
    built = build_model(problem, params, bins, fitting, slots, (0, found.value))
    _tie_break(built, params)
    add_hint(built, found.best)
    stage = cpsat.Stage(f"{problem.goal.value}, MIG tie-break", values=False)
    solver = cpsat.run(built.model, _time_left(settings, deadline, TIE_BREAK_SHARE), stage=stage)
    status, placements, _ = extract(solver, built)
    if placements is not None:
        found.best, found.value = placements, _cost(params, problem, placements)
        if status != "OPTIMAL":
            found.notes.append("the tie-break was not proven within the time limit")


def search_sliced(problem: Problem, settings: SolverSettings, deadline: float) -> Solution:
    """Plan ``problem`` with its MIG types sliced or whole by ``deadline`` (``packer.work.now()``).

    Raises ``InputError`` if no plan exists.
    """
    if not problem.goal.minimizes:
        raise InputError(
            "MIG slicing plans the fewest GPUs or the lowest cost only, not a --gpus budget",
            "drop --gpus, or plan without mig",
        )
    params = to_integers(problem)
    bins = [type_bins(problem, t) for t in range(len(problem.types))]
    fitting = fits(problem, bins)
    for i, item_fits in enumerate(fitting):
        if not item_fits:
            raise InputError(f"model {problem.items[i].model!r} fits no GPU and no MIG slice")
    plans = [
        p for first in (True, False) if (p := _greedy(problem, params, bins, fitting, first)) is not None
    ]
    best = min(plans, key=lambda p: _cost(params, problem, p), default=None)
    found = _Found(
        best,
        None if best is None else _cost(params, problem, best),
        slice_bound(problem, params, bins, fitting, params.cost),
    )
    greedy_gpus = 0 if best is None else len(_gpus(problem, best))
    job = (bins, fitting, deadline)
    _stage1(problem, params, job, found, settings)
    _stage2(problem, params, job, found, settings)
    return Solution(
        placements=found.best,
        proven=found.value <= found.bound,
        bound=value_real(problem, min(found.bound, found.value)),
        gpu_bound=slice_bound(problem, params, bins, fitting, (1,) * len(problem.types)),
        status=found.status,
        first_fit_gpus=greedy_gpus,
        notes=tuple(found.notes),
    )


def _gpus(problem: Problem, placements: tuple[Placement, ...]) -> set[tuple[int, int]]:
    return {(problem.items[p.item].options[p.option].type_index, p.slot) for p in placements}


def value_real(problem: Problem, value: int) -> float:
    """A min goal's value in the user's units: GPUs or cost per hour."""
    return float(value) if problem.goal is Goal.MIN_GPUS else value / COST_UNITS


def _no_plan(status: str, settings: SolverSettings) -> GpupackError:
    if status == "INFEASIBLE":
        return InputError(
            "no plan places every model on the GPUs available, whole or in MIG slices",
            "relax a rule or threshold, raise the GPU counts, or lower the targets",
        )
    return GpupackError(
        f"no plan found within the {settings.max_time_in_seconds:g} s time limit", "raise --time-limit"
    )
