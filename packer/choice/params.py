"""The multiple-choice problem in the solver's integers, its simple bounds, and GPU slots per type.

Demands are rounded up and rooms down (``resources.UNITS``); throughputs are
rounded down and targets up (1/100 infer/s), so an integer-feasible plan meets every target in real
numbers too. Costs are in 1/1000 per hour (one unit per GPU when minimizing GPUs), target fractions in
1/1000. The bounds are the solver's parameter L and the fallback's proof; each holds for every plan.

Co-location (``Problem.colocation``, ``packer.colocation``): per option, the most weighted load its
partners may put on it (``partner_room``, the utilization's units; ``None``: no limit), its
concurrency class (``flight``, an index into ``flights``), and what it surely serves on a shared GPU
(``shared``: its throughput × its least allowed ratio, rounded down). ``weights[a][b]`` is
w(flights[a], flights[b]) in 1/``WEIGHT_UNITS``, rounded up; ``util_cap[t]`` the most summed
utilization type t's GPUs may carry for the ratios to hold (100 % less the server). Without
co-location, ``shared`` is the throughput and every room ``None``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from packer.colocation import load_of, partner_room, weight
from packer.problem import Item, Problem
from packer.resources import GPU_UTIL, units_down, units_up
from packer.settings import Goal
from packer.solution import Placement

COST_UNITS = 1000
FRACTION_UNITS = 1000
WEIGHT_UNITS = 100


@dataclass(frozen=True)
class Params:
    """Integer parameters, indexed [item][option][resource], [type][resource], [item][option], [type]."""

    demand: tuple[tuple[tuple[int, ...], ...], ...]
    room: tuple[tuple[int, ...], ...]
    throughput: tuple[tuple[int, ...], ...]
    option_type: tuple[tuple[int, ...], ...]
    target: tuple[int | None, ...]
    cost: tuple[int, ...]
    max_per_gpu: int | None
    # Co-location: the GPU utilization's resource index (None: off), per option its partners' room
    # (None: unlimited) and what it serves for sure on a shared GPU.
    util: int | None = None
    partner_room: tuple[tuple[int | None, ...], ...] = ()
    shared: tuple[tuple[int, ...], ...] = ()
    flight: tuple[tuple[int, ...], ...] = ()
    flights: tuple[int, ...] = ()
    weights: tuple[tuple[int, ...], ...] = ()
    util_cap: tuple[int, ...] = ()

    def share(self, i: int, o: int) -> float:
        """The largest fraction of its GPU's room any resource of option ``o`` of item ``i`` takes."""
        room = self.room[self.option_type[i][o]]
        # A room below the integers' resolution rounds to 0: treat it as 1 unit rather than divide by 0.
        return max(d / max(c, 1) for d, c in zip(self.demand[i][o], room, strict=True))

    def types_of(self, i: int) -> set[int]:
        """GPU types item ``i`` has an option on."""
        return set(self.option_type[i])

    def room_of(self, i: int, o: int) -> int | None:
        """Option ``o`` of item ``i``: the partners' room in utilization units, ``None`` if unlimited."""
        return self.partner_room[i][o] if self.partner_room else None

    def sure(self, i: int, o: int) -> int:
        """What option ``o`` of item ``i`` serves whether or not it shares its GPU."""
        return self.shared[i][o] if self.shared else self.throughput[i][o]


def _flights(problem: Problem) -> tuple[int, ...]:
    """The distinct concurrencies of the options (an open-loop rate point counts as 1)."""
    return tuple(sorted({max(1, o.point.concurrency) for item in problem.items for o in item.options}))


def _colocation(problem: Problem, item: Item) -> tuple[tuple[int | None, ...], tuple[int, ...]]:
    """Per option of ``item``: its partners' room (utilization units) and what it serves for sure."""
    rooms, shared = [], []
    r = problem.resources.index(GPU_UTIL)
    for o in item.options:
        load = load_of(o.point, problem.server[o.type_index][r]) if problem.colocates(o.type_index) else None
        if load is None:
            rooms.append(None)
            shared.append(units_down(o.throughput))
            continue
        least = problem.least_ratio(o.point)
        room = partner_room(load, least)
        rooms.append(None if math.isinf(room) else units_down(100 * room))
        shared.append(units_down(o.throughput * least))
    return tuple(rooms), tuple(shared)


def to_integers(problem: Problem) -> Params:
    """``problem`` in integers (see the module docstring for the rounding)."""
    by_goal = problem.goal is not Goal.MIN_GPUS
    colocation = [_colocation(problem, item) for item in problem.items] if problem.colocation else []
    flights = _flights(problem) if colocation else ()
    klass = {c: a for a, c in enumerate(flights)}
    util = problem.resources.index(GPU_UTIL) if colocation else None
    return Params(
        demand=tuple(
            tuple(tuple(units_up(d) for d in o.demand) for o in item.options) for item in problem.items
        ),
        room=tuple(tuple(units_down(c) for c in room) for room in problem.room),
        throughput=tuple(tuple(units_down(o.throughput) for o in item.options) for item in problem.items),
        option_type=tuple(tuple(o.type_index for o in item.options) for item in problem.items),
        target=tuple(units_up(item.target.throughput) if item.target else None for item in problem.items),
        cost=tuple(
            max(1, round(t.cost_per_hour * COST_UNITS)) if by_goal and t.cost_per_hour else 1
            for t in problem.types
        ),
        max_per_gpu=problem.rules.max_models_per_gpu,
        util=util,
        partner_room=tuple(rooms for rooms, _ in colocation),
        shared=tuple(shared for _, shared in colocation),
        flight=tuple(tuple(klass[max(1, o.point.concurrency)] for o in i.options) for i in problem.items)
        if colocation
        else (),
        flights=flights,
        weights=tuple(tuple(math.ceil(WEIGHT_UNITS * weight(a, b) - 1e-9) for b in flights) for a in flights),
        util_cap=tuple(units_down(100.0 - s[util]) for s in problem.server) if util is not None else (),
    )


def served_units(params: Params, placements: Iterable[Placement]) -> list[int]:
    """Per item, what ``placements`` serve for sure: a replica sharing its GPU counts ``shared``."""
    placements = list(placements)
    count = Counter((params.option_type[p.item][p.option], p.slot) for p in placements)
    served = [0] * len(params.target)
    for p in placements:
        alone = count[params.option_type[p.item][p.option], p.slot] == 1
        served[p.item] += params.throughput[p.item][p.option] if alone else params.sure(p.item, p.option)
    return served


def min_replicas(params: Params, i: int, targets: bool) -> int:
    """Fewest replicas item ``i`` needs: its target over its fastest option (one GPU each), at least 1."""
    if not targets or params.target[i] is None:
        return 1
    fastest = max(params.throughput[i])
    return math.ceil(params.target[i] / fastest) if fastest > 0 else 1


def lower_bound(problem: Problem, params: Params, weights: tuple[int, ...], targets: bool) -> int:
    """A lower bound on Σ weight[type] over the GPUs of any plan (``targets``: plans that meet them).

    Per resource r, a GPU of type t is worth weight[t] and holds at most room[t][r], so every replica
    costs at least weight × demand / room; an item with a target needs replicas worth at least its
    target × the best weight per infer/s. Also: each item's minimum replicas need distinct GPUs,
    items above half a GPU in some resource on every option need distinct GPUs, K models per GPU.
    """
    n = len(params.demand)
    reps = [min_replicas(params, i, targets) for i in range(n)]
    cheapest = [min(weights[t] for t in params.types_of(i)) for i in range(n)]
    best = float(min(weights))
    for r in range(len(problem.resources)):
        volume, big = 0.0, 0
        for i in range(n):
            share = [
                weights[t] * d[r] / params.room[t][r]
                for d, t in zip(params.demand[i], params.option_type[i], strict=True)
            ]
            need = min(share)
            if targets and params.target[i] is not None:
                rate = min(
                    (s / w for s, w in zip(share, params.throughput[i], strict=True) if w > 0), default=0.0
                )
                need = max(need, params.target[i] * rate)
            volume += need
            if all(
                2 * d[r] > params.room[t][r]
                for d, t in zip(params.demand[i], params.option_type[i], strict=True)
            ):
                big += reps[i] * cheapest[i]
        best = max(best, volume, big)
    best = max(best, max(r * c for r, c in zip(reps, cheapest, strict=True)))
    if params.max_per_gpu:
        best = max(best, sum(reps) / params.max_per_gpu * min(weights))
    return math.ceil(best - 1e-9)


def bundle_bound(problem: Problem, params: Params) -> int:
    """Most GPUs an optimal plan of a min goal needs: per together group, its bundles after pruning.

    A group with an untargeted member has one bundle; otherwise drop bundles while every target still
    holds: each remaining bundle is critical for some member m, and at most ⌊τ/w_min⌋ + 1 bundles can be
    critical for m. Every GPU of a pruned plan holds a bundle, and pruning never adds cost.
    """
    total = 0
    for group in problem.groups:
        if any(params.target[i] is None for i in group):
            total += 1
            continue
        for i in group:
            sure = [params.sure(i, o) for o in range(len(params.throughput[i]))]
            slowest = min((w for w in sure if w > 0), default=1)
            total += params.target[i] // slowest + 1
    return total


def upper_bound(problem: Problem, params: Params, slots: list[int]) -> int:
    """An upper bound on a max goal's objective: total throughput, or min target fraction (1/1000)."""
    if problem.goal is Goal.MAX_THROUGHPUT:
        return sum(max(w) for w in params.throughput)
    fractions = []
    for i, tau in enumerate(params.target):
        if tau is not None:
            gpus = min(problem.gpu_budget or 0, sum(slots[t] for t in params.types_of(i)))
            fractions.append(FRACTION_UNITS * gpus * max(params.throughput[i]) // tau)
    return min(fractions)
