"""First-fit decreasing for the multiple-choice problem: the upper bound, the warm start and the fallback.

Together groups go largest first (by the room their smallest options take), as bundles: one option
per member, all on one GPU. A bundle's option per member is the smallest one, or, while a target is
unmet, the smallest one that meets what is left (else the fastest); its GPU type is the one with the
lowest cost per unit of progress. It goes on the first open GPU of that type with room, free of its
members and their apart partners and under the model limit, else on a newly opened GPU, numbered in
opening order per type (the model's symmetry breaking accepts that numbering as a hint). On a budget
with targets, replicas are then added to the model furthest from its target while any fits.
With co-location (``Params.util``), a GPU also takes a bundle only while every model on it keeps its
partners within its room (``Params.partner_room``), and a replica counts what it serves for sure
(``Params.sure``: it may share its GPU later).
Returns ``None`` when it cannot place everything; the solver may still succeed.
"""

from __future__ import annotations

import numpy as np

from packer import work
from packer.choice.params import WEIGHT_UNITS, Params
from packer.problem import Problem
from packer.settings import Goal
from packer.solution import Placement

# No co-location limit on the weighted load a model may see.
NO_LIMIT = np.iinfo(np.int64).max // 4
# Work per first-fit scan: a fixed part and a part per open GPU scanned (NumPy rows; measured on the
# reference host: 10,000 models over ~3,500 open GPUs on average, 1.6-1.9 s).
SCAN_S = 4e-5
SCAN_S_PER_GPU = 3.7e-8


class _Open:
    """The open GPUs of one type, in slot order: their loads and model counts as arrays.

    First fit asks every open GPU at once (one vectorized comparison per bundle), so the greedy runs
    in about a second on 10,000 models and 3,000 GPUs instead of a Python loop over every pair.
    """

    def __init__(self, resources: int, flights: int = 0) -> None:
        self.n = 0
        self.load = np.zeros((16, resources), dtype=np.int64)
        self.count = np.zeros(16, dtype=np.int64)
        # Co-location: flight[k, a] the summed GPU utilization of slot k's models of concurrency class
        # a; limit[k, a] the most weighted load a model of class a on slot k may see (NO_LIMIT: none).
        self.flight = np.zeros((16, flights), dtype=np.int64)
        self.limit = np.full((16, flights), NO_LIMIT, dtype=np.int64)

    def open(self) -> int:
        """A new empty GPU's slot."""
        if self.n == len(self.count):
            self.load = np.concatenate([self.load, np.zeros_like(self.load)])
            self.count = np.concatenate([self.count, np.zeros_like(self.count)])
            self.flight = np.concatenate([self.flight, np.zeros_like(self.flight)])
            self.limit = np.concatenate([self.limit, np.full_like(self.limit, NO_LIMIT)])
        self.n += 1
        return self.n - 1


class _Greedy:
    """The greedy's state: open GPUs, placements so far, and the limits on opening more."""

    def __init__(self, problem: Problem, params: Params) -> None:
        self.params = params
        self.caps = [t.count for t in problem.types]
        self.budget = problem.gpu_budget
        self.open = [_Open(len(room), len(params.flights)) for room in params.room]
        # W[a, b]: how class a sees class b's load (co-location), in 1/WEIGHT_UNITS.
        flights = len(params.flights)
        self.weights = np.asarray(params.weights, dtype=np.int64).reshape(flights, flights)
        self.rooms = [np.asarray(room, dtype=np.int64) for room in params.room]
        self.placements: list[Placement] = []
        # where[i]: the (type, slot) GPUs model i runs on; served[i]: its placed throughput.
        self.where: list[list[tuple[int, int]]] = [[] for _ in problem.items]
        self.served_units = [0] * len(problem.items)
        index = {item.model: i for i, item in enumerate(problem.items)}
        self.apart: dict[int, set[int]] = {i: set() for i in range(len(problem.items))}
        for a, b in problem.rules.apart_pairs:
            self.apart[index[a]].add(index[b])
            self.apart[index[b]].add(index[a])

    def _choose(self, i: int, t: int, left: int | None) -> int | None:
        p = self.params
        options = [o for o, ot in enumerate(p.option_type[i]) if ot == t]
        if not options:
            return None
        small = min(options, key=lambda o: (p.share(i, o), -p.throughput[i][o], o))
        if left is None or left <= 0:
            return small
        meeting = [o for o in options if p.sure(i, o) >= left]
        if meeting:
            return min(meeting, key=lambda o: (p.share(i, o), -p.sure(i, o), o))
        return max(options, key=lambda o: (p.sure(i, o), -p.share(i, o), -o))

    def _bundles(self, group: tuple[int, ...], left: dict[int, int | None]) -> list[tuple[int, list]]:
        """Per GPU type, the bundle to try, cheapest progress first."""
        p, scored = self.params, []
        for t in range(len(p.room)):
            bundle = [(i, self._choose(i, t, left[i])) for i in group]
            if any(o is None for _, o in bundle):
                continue
            share = max(
                sum(p.demand[i][o][r] for i, o in bundle) / p.room[t][r] for r in range(len(p.room[t]))
            )
            progress = sum(
                min(p.sure(i, o), left[i]) / p.target[i] if left[i] and left[i] > 0 else 1 for i, o in bundle
            )
            scored.append((p.cost[t] * share / max(progress, 1e-9), t, bundle))
        return [(t, bundle) for _, t, bundle in sorted(scored, key=lambda s: (s[0], s[1]))]

    def _first_fit(self, t: int, bundle: list[tuple[int, int]], need: np.ndarray) -> int | None:
        """The first open GPU of type ``t`` with room for ``bundle``, free of its members and partners."""
        gpus = self.open[t]
        if gpus.n == 0:
            return None
        work.spend(SCAN_S + SCAN_S_PER_GPU * gpus.n)
        ok = (gpus.load[: gpus.n] + need <= self.rooms[t]).all(axis=1)
        if self.params.util is not None:
            ok &= self._within(t, bundle, gpus.flight[: gpus.n], gpus.limit[: gpus.n])
        if self.params.max_per_gpu is not None:
            ok &= gpus.count[: gpus.n] + len(bundle) <= self.params.max_per_gpu
        members = {i for i, _ in bundle}
        for i in members.union(*(self.apart[i] for i in members)):
            for tt, k in self.where[i]:
                if tt == t:
                    ok[k] = False
        first = int(ok.argmax())
        return first if ok[first] else None

    def _flights(self, bundle: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """``bundle``'s utilization per concurrency class, and the tightest weighted load per class."""
        p, u = self.params, self.params.util
        load = np.zeros(len(p.flights), dtype=np.int64)
        limit = np.full(len(p.flights), NO_LIMIT, dtype=np.int64)
        for i, o in bundle:
            a, room = p.flight[i][o], p.room_of(i, o)
            load[a] += p.demand[i][o][u]
            if room is not None:
                limit[a] = min(limit[a], WEIGHT_UNITS * (p.demand[i][o][u] + room))
        return load, limit

    def _within(
        self, t: int, bundle: list[tuple[int, int]], flight: np.ndarray, limit: np.ndarray
    ) -> np.ndarray:
        """Per GPU of type ``t`` (rows of ``flight``, ``limit``): may it take ``bundle``? (co-location)."""
        load, tightest = self._flights(bundle)
        after = flight + load
        # The time the ratios need (100 % less the server), and each class's weighted load in its room.
        ok = after.sum(axis=1) <= self.params.util_cap[t]
        return ok & (after @ self.weights.T <= np.minimum(limit, tightest)).all(axis=1)

    def _can_open(self, t: int) -> bool:
        under_count = self.caps[t] is None or self.open[t].n < self.caps[t]
        return under_count and (self.budget is None or sum(g.n for g in self.open) < self.budget)

    def _fits_empty(self, t: int, bundle: list[tuple[int, int]], need: np.ndarray) -> bool:
        most = self.params.max_per_gpu
        flights = len(self.params.flights)
        empty = np.zeros((1, flights), dtype=np.int64), np.full((1, flights), NO_LIMIT, dtype=np.int64)
        within = self.params.util is None or bool(self._within(t, bundle, *empty)[0])
        return bool((need <= self.rooms[t]).all()) and within and (most is None or len(bundle) <= most)

    def place(self, group: tuple[int, ...], left: dict[int, int | None]) -> list[tuple[int, int]] | None:
        """Place one bundle of ``group`` (first fit, else a new GPU); the bundle, or ``None``."""
        p = self.params
        for t, bundle in self._bundles(group, left):
            need = np.sum([p.demand[i][o] for i, o in bundle], axis=0, dtype=np.int64)
            slot = self._first_fit(t, bundle, need)
            if slot is None and self._can_open(t) and self._fits_empty(t, bundle, need):
                slot = self.open[t].open()
            if slot is None:
                continue
            self.open[t].load[slot] += need
            self.open[t].count[slot] += len(bundle)
            if p.util is not None:
                load, tightest = self._flights(bundle)
                self.open[t].flight[slot] += load
                self.open[t].limit[slot] = np.minimum(self.open[t].limit[slot], tightest)
            for i, o in bundle:
                self.where[i].append((t, slot))
                self.served_units[i] += p.sure(i, o)
                self.placements.append(Placement(i, o, slot))
            return bundle
        return None

    def served(self, i: int) -> int:
        """Item ``i``'s placed throughput, integer units."""
        return self.served_units[i]


def _raise_fractions(state: _Greedy, problem: Problem) -> None:
    """On a budget: add replicas to the model furthest from its target while one fits."""
    p = state.params
    group_of = {i: g for g in problem.groups for i in g}
    targeted = [i for i, tau in enumerate(p.target) if tau is not None]
    while targeted:
        worst = min(targeted, key=lambda i: (state.served(i) / p.target[i], i))
        group = group_of[worst]
        if any(p.target[i] is None for i in group):
            return
        if state.place(group, {i: p.target[i] for i in group}) is None:
            return


def greedy(problem: Problem, params: Params) -> tuple[Placement, ...] | None:
    """A feasible plan, or ``None`` (see the module docstring)."""
    state = _Greedy(problem, params)
    cover = problem.goal.minimizes
    size = {
        g: sum(min(params.share(i, o) for o in range(len(params.demand[i]))) for i in g)
        for g in problem.groups
    }
    for group in sorted(problem.groups, key=lambda g: (-size[g], g)):
        left = {i: params.target[i] if cover else None for i in group}
        while True:
            bundle = state.place(group, left)
            if bundle is None:
                return None
            for i, o in bundle:
                if left[i] is not None:
                    left[i] -= params.sure(i, o)
            if all(v is None or v <= 0 for v in left.values()):
                break
            if any(v is None for v in left.values()):
                return None  # a member without a target runs once, so the group cannot repeat
    if problem.goal is Goal.MAX_TARGET_FRACTION:
        _raise_fractions(state, problem)
    return tuple(state.placements)
