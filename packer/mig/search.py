"""Search a problem with MIG types: a first-fit plan on servers, the slice-aware bound, then CP-SAT.

The greedy places replicas largest first on the first server (the whole GPU, or a slice) with room,
else on a new slice of an open GPU (the smallest that fits and keeps the layout valid), else on a
new GPU of the cheapest type; it runs once preferring slices and once preferring whole GPUs and keeps
the cheaper plan. It caps the GPUs per type and warm-starts CP-SAT (``mig.model``); ``bins.slice_bound``
gives the proof. Only the min goals (fewest GPUs, lowest cost) are planned with slices.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from packer import cpsat
from packer.choice.params import COST_UNITS, Params, bundle_bound, to_integers
from packer.mig.bins import Bin, Fit, fits, slice_bound, type_bins
from packer.mig.model import add_hint, build_model, extract
from packer.problem import Problem
from packer.settings import Goal, SolverSettings
from packer.solution import Placement, Solution
from profiler import GpupackError, InputError


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
    opened = {(problem.items[p.item].options[p.option].type_index, p.slot) for p in placements}
    return sum(params.cost[t] for t, _ in opened)


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


def search_sliced(problem: Problem, settings: SolverSettings, started: float) -> Solution:
    """Plan ``problem`` with its MIG types sliced or whole (``InputError`` if no plan exists)."""
    if not problem.goal.minimizes:
        raise InputError(
            "MIG slicing plans the fewest GPUs or the lowest cost only, not a --gpus budget",
            "drop --gpus, or plan without mig",
        )
    params = to_integers(problem)
    bins = [type_bins(problem, t) for t in range(len(problem.types))]
    found = fits(problem, bins)
    for i, item_fits in enumerate(found):
        if not item_fits:
            raise InputError(f"model {problem.items[i].model!r} fits no GPU and no MIG slice")
    plans = [p for first in (True, False) if (p := _greedy(problem, params, bins, found, first)) is not None]
    best = min(plans, key=lambda p: _cost(params, problem, p), default=None)
    value = None if best is None else _cost(params, problem, best)
    greedy_gpus = (
        0
        if best is None
        else len({(problem.items[p.item].options[p.option].type_index, p.slot) for p in best})
    )
    lower = slice_bound(problem, params, bins, found, params.cost)
    status, notes, bound = "FFD", [], lower
    if value is None or value > lower:
        built = build_model(problem, params, bins, found, _slots(problem, params, value), (lower, value))
        if best is not None:
            add_hint(built, best)
        unit = "GPUs" if problem.goal is Goal.MIN_GPUS else "/h"
        scale = 1 if problem.goal is Goal.MIN_GPUS else COST_UNITS
        # The time limit is the whole command's: building the model took some of it.
        left = max(cpsat.MIN_SECONDS, settings.max_time_in_seconds - (time.perf_counter() - started))
        stage = cpsat.Stage(f"{problem.goal.value}, MIG", unit, scale)
        solver = cpsat.run(built.model, replace(settings, max_time_in_seconds=left), stage=stage)
        status, placements, solver_bound = extract(solver, built)
        if placements is not None:
            new = _cost(params, problem, placements)
            if value is None or new <= value:
                best, value = placements, new
            if solver_bound is not None:
                bound = max(bound, int(-(-solver_bound // 1)))
        elif best is None:
            raise _no_plan(status, settings)
        else:
            notes.append(f"CP-SAT found no plan in {settings.max_time_in_seconds:g} s; using the greedy plan")
    if status == "OPTIMAL":
        bound = value
    gpu_bound = slice_bound(problem, params, bins, found, (1,) * len(problem.types))
    return Solution(
        placements=best,
        proven=value == bound,
        bound=value_real(problem, bound),
        gpu_bound=gpu_bound,
        status=status,
        first_fit_gpus=greedy_gpus,
        notes=tuple(notes),
    )


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
