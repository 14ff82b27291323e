r"""CP-SAT model of planning layout and placement together: each GPU whole or sliced, models on slices.

Sets
    I               models (items); T ⊆ I those with a throughput target
    S = {(t, k)}    GPU slots, k = 0..U[t]−1 per type t
    B[t]            bins of type t (``bins.type_bins``): b = 0 the whole GPU; for a MIG type, one per
                    (profile, start) its product allows, each covering memory slices P[b] ⊆ {0..7}
    F[i]            (option o, bin b) pairs where option o of i fits bin b (``bins.fits``)
Parameters (integers)
    d[i, o, b, r]   demand of option o on bin b (utilizations × 7/g on a slice);  C[b, r]  room of bin b
    w[i, o]         throughput;  τ[i]  target;  c[t]  cost;  K  models per server;  L, B  cost bounds
Variables
    x[i, o, k, b] ∈ {0, 1}   a replica of i runs at option o on bin b of slot k of o's type
    on[t, k, b] ∈ {0, 1}     bin b of slot (t, k) is a server of the plan (the whole GPU or a slice)
    used[t, k] ∈ {0, 1}      slot (t, k) is a GPU of the plan
Objective
    minimize Σ c[t]·used[t, k]
Constraints
    (1) Σ_o x[i, o, k, b] ≤ 1                  one replica of a model per server
    (2) Σ x[i, ·, ·, ·] = 1  (i ∉ T);  (3) Σ w·x[i, ·, ·, ·] ≥ τ[i]  (i ∈ T)
    (4) Σ_{i, o} d[i, o, b, r]·x[i, o, k, b] ≤ C[b, r]·on[t, k, b]      capacity of each server
    (5) Σ_{b : j ∈ P[b]} on[t, k, b] ≤ used[t, k]   ∀ j ∈ 0..7   a valid layout: no memory slice twice
        (the whole GPU covers all 8), so a GPU is whole or slices, never both
    (6) on[t, k, b] ≤ Σ_{i, o} x[i, o, k, b]          no empty server;  used[t, k] ≤ Σ_b on[t, k, b]
    (7) used[t, k] ≥ used[t, k + 1]                   used slots first (symmetry)
    (8) Σ_{i, o} x[i, o, k, b] ≤ K                    at most K models per server
    (9) apart: not on one server;  (10) together: on the same servers
    (11) L ≤ Σ c[t]·used[t, k] ≤ B
A slice is an isolated GPU to the models on it, so the rules that keep models apart or together
apply per server; a layout (5) is valid exactly when ``layouts.layout_problems`` accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from ortools.sat.python import cp_model

from packer.choice.params import Params
from packer.mig.bins import Bin, Fit
from packer.mig.products import MEMORY_SLICES
from packer.problem import Problem
from packer.solution import Placement
from profiler import GpupackError


@dataclass(frozen=True)
class SliceVars:
    """The decision variables of one built model and the cost expression."""

    x: dict[tuple[int, int, int, int], cp_model.IntVar]
    on: dict[tuple[int, int, int], cp_model.IntVar]
    used: dict[tuple[int, int], cp_model.IntVar]
    cost: cp_model.LinearExpr


@dataclass(frozen=True)
class Built:
    """A built model, its variables, and what extraction needs: bins per type, each item's fits."""

    model: cp_model.CpModel
    variables: SliceVars
    bins: list[tuple[Bin, ...]]
    found: list[list[Fit]]


def _replicas(model: cp_model.CpModel, problem: Problem, params: Params, x: dict) -> None:
    """(2), (3): one replica without a target; the target met with one."""
    per_item: list[list] = [[] for _ in problem.items]
    for (i, o, _, _), v in x.items():
        per_item[i].append((o, v))
    for i, tau in enumerate(params.target):
        if tau is None:
            model.add(sum(v for _, v in per_item[i]) == 1)
        else:
            model.add(sum(params.throughput[i][o] * v for o, v in per_item[i]) >= tau)


def _server(
    model: cp_model.CpModel,
    problem: Problem,
    found: list[list[Fit]],
    x: dict,
    on: dict,
    slot: tuple[int, int, int],
    where: Bin,
) -> None:
    """(1), (4), (6), (8), (9), (10) for bin b of slot (t, k) (``slot`` = (t, k, b))."""
    t, k, b = slot
    here = {
        i: [(f, x[i, f.option, k, b]) for f in fs if f.type == t and f.bin == b] for i, fs in enumerate(found)
    }
    every = [v for pairs in here.values() for _, v in pairs]
    # (1) one replica of a model per server
    for pairs in here.values():
        if len(pairs) > 1:
            model.add_at_most_one(v for _, v in pairs)
    # (4) capacity of the server
    for r, cap in enumerate(where.room):
        model.add(sum(f.demand[r] * v for pairs in here.values() for f, v in pairs) <= cap * on[t, k, b])
    # (6) no empty server
    model.add(on[t, k, b] <= sum(every))
    # (8) at most K models per server
    if problem.rules.max_models_per_gpu is not None:
        model.add(sum(every) <= problem.rules.max_models_per_gpu)
    index = {item.model: i for i, item in enumerate(problem.items)}
    # (9) apart
    for a, c in problem.rules.apart_pairs:
        model.add(sum(v for _, v in here[index[a]]) + sum(v for _, v in here[index[c]]) <= 1)
    # (10) together
    for group in problem.groups:
        for a, c in pairwise(group):
            model.add(sum(v for _, v in here[a]) == sum(v for _, v in here[c]))


def build_model(
    problem: Problem,
    params: Params,
    bins: list[tuple[Bin, ...]],
    found: list[list[Fit]],
    slots: list[int],
    bounds: tuple[int, int | None],
) -> Built:
    """Build the model on ``slots[t]`` GPUs per type; ``bounds`` is (L, B) of (11)."""
    model = cp_model.CpModel()
    # x[i, o, k, b] = 1 if a replica of model i runs at option o on bin b of slot k of o's type
    x = {
        (i, f.option, k, f.bin): model.new_bool_var(f"x[{i},{f.option},{k},{f.bin}]")
        for i, fs in enumerate(found)
        for f in fs
        for k in range(slots[f.type])
    }
    # on[t, k, b] = 1 if bin b of slot (t, k) is a server of the plan
    on = {
        (t, k, b): model.new_bool_var(f"on[{t},{k},{b}]")
        for t, n in enumerate(slots)
        for k in range(n)
        for b in range(len(bins[t]))
    }
    # used[t, k] = 1 if slot k of type t is a GPU of the plan
    used = {(t, k): model.new_bool_var(f"used[{t},{k}]") for t, n in enumerate(slots) for k in range(n)}
    _replicas(model, problem, params, x)
    for (t, k), gpu in used.items():
        for b, where in enumerate(bins[t]):
            _server(model, problem, found, x, on, (t, k, b), where)
        # (5) a valid layout: each memory slice at most once, only on a used GPU
        for j in range(MEMORY_SLICES):
            model.add(sum(on[t, k, b] for b, where in enumerate(bins[t]) if j in where.positions) <= gpu)
        # (6) a used GPU runs a server
        model.add(gpu <= sum(on[t, k, b] for b in range(len(bins[t]))))
    # (7) used slots first, per type
    for t, n in enumerate(slots):
        for k in range(n - 1):
            model.add(used[t, k] >= used[t, k + 1])
    cost = sum(params.cost[t] * v for (t, _), v in used.items())
    # (11) the bounds
    lower, upper = bounds
    model.add(cost >= lower)
    if upper is not None:
        model.add(cost <= upper)
    model.minimize(cost)
    return Built(model, SliceVars(x, on, used, cost), bins, found)


def add_hint(built: Built, placements: tuple[Placement, ...]) -> None:
    """Warm-start from ``placements`` (slots per type numbered from 0, slices by (start, profile))."""
    model, v = built.model, built.variables
    model.clear_hints()
    bin_of = {
        (t, (where.start, where.profile) if where.profile else None): b
        for t, bins in enumerate(built.bins)
        for b, where in enumerate(bins)
    }
    chosen, servers = set(), set()
    for p in placements:
        t = _type(built, p)
        b = bin_of[t, p.mig_slice]
        chosen.add((p.item, p.option, p.slot, b))
        servers.add((t, p.slot, b))
    for key, var in v.x.items():
        model.add_hint(var, key in chosen)
    for key, var in v.on.items():
        model.add_hint(var, key in servers)
    for key, var in v.used.items():
        model.add_hint(var, any((key[0], key[1]) == (t, k) for t, k, _ in servers))


def _type(built: Built, p: Placement) -> int:
    return next(f.type for f in built.found[p.item] if f.option == p.option)


def extract(
    solver: cp_model.CpSolver, built: Built
) -> tuple[str, tuple[Placement, ...] | None, float | None]:
    """The status, the replicas found (``None`` if none) and the proven bound."""
    status = solver.status_name()
    if status == "MODEL_INVALID":
        raise GpupackError("internal error: CP-SAT rejected the MIG model as invalid")
    if status in ("INFEASIBLE", "UNKNOWN"):
        return status, None, None
    placements = []
    for (i, o, k, b), var in built.variables.x.items():
        if solver.boolean_value(var):
            where = built.bins[_type(built, Placement(i, o, k))][b]
            part = None if where.profile is None else (where.start, where.profile)
            placements.append(Placement(i, o, k, part))
    return status, tuple(placements), solver.best_objective_bound
