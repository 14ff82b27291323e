r"""CP-SAT model of the multiple-choice planner: choose points and replicas, place them on a mixed fleet.

One model serves every goal (multiple-choice vector packing with replicas, rules and a budget);
stage 1 optimizes the goal, stage 2 keeps it and breaks ties.

Sets
    I               models (items); T ⊆ I those with a throughput target
    O[i]            options of i: (GPU type, profiled point) pairs (``packer.problem``); pins keep only
                    the pinned type's options, so (7) "i runs only on pin(i)" holds by construction
    S = {(t, k)}    GPU slots, k = 0..U[t]−1 per type t; U[t] ≤ the type's count (and budget, bounds)
    R               packed resources; A apart pairs; G together groups
Parameters (integers, ``choice.params``)
    d[i, o, r]      demand of option o (server removed);  C[t, r]  room per GPU of type t
    w[i, o]         throughput of option o;  τ[i]  target of i;  c[t]  cost (1 per GPU for min-gpus)
    K               max models per GPU;  N  GPU budget;  L  a lower bound on the cost;  B  greedy's cost
    F = 1000        fraction scale
    Co-location (``packer.colocation``, only where ``Problem.colocates``): u the GPU-utilization
    resource; a(i, o) option o's concurrency class, W[a, b] = ⌈100·ω(c_a, c_b)⌉ the weight class a
    sees class b's load with (``colocation.weight``, in 1/100); ρ[i, o] the most weighted load option
    o's partners may put on it (its predicted ratio stays ≥ its least allowed one θ[i, o]);
    s[i, o] = ⌊w[i, o]·θ[i, o]⌋ what it serves for sure shared
ChoiceVars
    x[i, o, k] ∈ {0, 1}   a replica of i runs at option o on slot k of o's type
    used[t, k] ∈ {0, 1}   slot (t, k) is a GPU of the plan
    z ∈ ℤ≥0                min over T of served / target, in 1/F (only with targets)
    on[i, t, k] = Σ_{o ∈ O[i], type o = t} x[i, o, k]   (an expression, 0 or 1 by (1))
    With co-location:
    lim[t, k, a] ≥ 0          the most weighted load a model of class a on slot (t, k) may see
    shared[t, k] ∈ {0, 1}     slot (t, k) runs two models or more
    y[i, o, k] ∈ {0, 1}       x[i, o, k] on a shared slot (only where s[i, o] < w[i, o])
    served[i] = Σ w[i, o]·x[i, o, k] − Σ (w[i, o] − s[i, o])·y[i, o, k]   (without: Σ w·x)
Objective (stage 1)
    min-gpus, min-cost:   minimize  Σ c[t]·used[t, k]
    max-throughput:       maximize  Σ served[i]
    max-target-fraction:  maximize  z
Constraints
    (1) on[i, t, k] ≤ 1                         ∀ i, (t, k)   one replica of a model per GPU (one server)
    (2) Σ_{o, k} x[i, o, k] = 1                 ∀ i ∉ T       one replica without a target
    (3) served[i] ≥ τ[i]                        ∀ i ∈ T       target met (min goals)
    (4) F·served[i] ≥ z·τ[i],  Σ_{o, k} x[i, o, k] ≥ 1   ∀ i ∈ T   fraction, ≥ 1 replica
    (5) Σ_{i, o} d[i, o, r]·x[i, o, k] ≤ C[t, r]·used[t, k]   ∀ (t, k), r   capacity on used GPUs
    (6) x[i, o, k] ≤ used[t, k]                               models only on used GPUs
    (7) used[t, k] ≥ used[t, k + 1]                           used slots first (symmetry)
    (8) Σ_i on[i, t, k] ≤ K·used[t, k]                        at most K models per GPU
    (9) on[a, t, k] + on[b, t, k] ≤ 1           ∀ (a, b) ∈ A  apart
    (10) on[a, t, k] = on[b, t, k]              ∀ a, b consecutive in a group of G   together
    (11) Σ used[t, k] ≤ N                                     the budget (max goals)
    (12) L ≤ Σ c[t]·used[t, k] ≤ B                            the bounds (min goals)
    (14) Σ_{i, o} d[i, o, u]·x[i, o, k] ≤ 100 % − server;  per concurrency class a on the slot:
         Σ_{i, o} W[a, a(i, o)]·d[i, o, u]·x[i, o, k] ≤ lim[t, k, a],
         x[i, o, k] ⇒ lim[t, k, a(i, o)] ≤ 100·(d[i, o, u] + ρ[i, o])
                                                  every model's weighted partners within its room
    (15) Σ_i on[i, t, k] ≤ 1 + |I|·shared[t, k];  y[i, o, k] ≥ x[i, o, k] + shared[t, k] − 1
                                                  a replica sharing its GPU serves s, not w
Stage 2 (tie-break), with V the stage-1 value and X = Σ x[i, o, k] the number of replicas:
    (13) keep the goal at least as good as V, then
    min goals:  with targets maximize (|x| + 1)·z − X (the most margin on the worst target, then
                no replica it does not need); else maximize Σ served
    max goals:  minimize (|x| + 1)·Σ c[t]·used[t, k] + X (lowest cost, then fewest replicas)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from ortools.sat.python import cp_model

from packer import cpsat
from packer.choice.params import FRACTION_UNITS, WEIGHT_UNITS, Params
from packer.problem import Problem
from packer.settings import Goal, SolverSettings
from packer.solution import Placement
from profiler import GpupackError


@dataclass(frozen=True)
class Shared:
    """Co-location's variables: shared[t, k] per slot, y[i, o, k] where sharing costs throughput."""

    slot: dict[tuple[int, int], cp_model.IntVar]
    y: dict[tuple[int, int, int], cp_model.IntVar]

    def served(self, params: Params, x: dict) -> list[tuple[int, int, cp_model.IntVar]]:
        """Every served term (item, coefficient, variable): w·x for each x, then (s − w)·y for each y."""
        return [(i, params.throughput[i][o], v) for (i, o, _), v in x.items()] + [
            (i, params.sure(i, o) - params.throughput[i][o], v) for (i, o, _), v in self.y.items()
        ]


NO_SHARED = Shared({}, {})


def _shared_vars(
    model: cp_model.CpModel, problem: Problem, params: Params, x: dict, slots: list[int]
) -> Shared:
    """shared[t, k] and y[i, o, k] on the slots of types where co-location applies (none without)."""
    if params.util is None:
        return NO_SHARED
    # shared[t, k] = 1 if slot (t, k) runs two models or more
    slot = {
        (t, k): model.new_bool_var(f"shared[{t},{k}]")
        for t, n in enumerate(slots)
        if problem.colocates(t)
        for k in range(n)
    }
    # y[i, o, k] = 1 if x[i, o, k] runs on a shared slot (where sharing lowers what it surely serves)
    y = {
        (i, o, k): model.new_bool_var(f"y[{i},{o},{k}]")
        for (i, o, k) in x
        if (params.option_type[i][o], k) in slot and params.sure(i, o) < params.throughput[i][o]
    }
    for (i, o, k), v in y.items():
        # (15) a replica on a shared slot serves s
        model.add(v >= x[i, o, k] + slot[params.option_type[i][o], k] - 1)
    return Shared(slot, y)


@dataclass(frozen=True)
class ChoiceVars:
    """The decision variables of one built multiple-choice model, and the objective expressions over them."""

    x: dict[tuple[int, int, int], cp_model.IntVar]
    used: dict[tuple[int, int], cp_model.IntVar]
    fraction: cp_model.IntVar | None
    cost: cp_model.LinearExpr
    throughput: cp_model.LinearExpr


@dataclass(frozen=True)
class StageResult:
    """One CP-SAT stage: its status, the replicas found (``None`` if none) and the proven bound."""

    status: str
    placements: tuple[Placement, ...] | None
    bound: float | None


def _on(params: Params, x: dict, i: int, t: int, k: int) -> list:
    """The variables of on[i, t, k]: model i's options on type t, at slot k."""
    return [x[i, o, k] for o, ot in enumerate(params.option_type[i]) if ot == t]


def _fraction_var(model: cp_model.CpModel, params: Params, slots: list[int]) -> cp_model.IntVar:
    # z = min over targeted models of served / target, in 1/F; bounded by all slots at the fastest option.
    most = max(
        FRACTION_UNITS * sum(slots[t] for t in params.types_of(i)) * max(params.throughput[i]) // tau
        for i, tau in enumerate(params.target)
        if tau is not None
    )
    return model.new_int_var(0, max(most, FRACTION_UNITS), "z")


def _demand_constraints(
    model: cp_model.CpModel, problem: Problem, params: Params, x: dict, slots: list[int], terms: list
) -> cp_model.IntVar | None:
    """(2)-(4): replicas per model (``terms``: per item, its served terms); returns z with targets."""
    fraction = _fraction_var(model, params, slots) if problem.has_targets else None
    per_item: list[list[cp_model.IntVar]] = [[] for _ in params.target]
    for (i, _, _), v in x.items():
        per_item[i].append(v)
    item_terms: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in params.target]
    for i, w, v in terms:
        item_terms[i].append((w, v))
    for i, tau in enumerate(params.target):
        replicas = per_item[i]
        if tau is None:
            # (2) one replica without a target
            model.add(sum(replicas) == 1)
            continue
        served = sum(w * v for w, v in item_terms[i])
        if problem.goal.minimizes:
            # (3) target met
            model.add(served >= tau)
        else:
            # (4) at least one replica on a budget
            model.add(sum(replicas) >= 1)
        # (4) z is at most this model's served fraction
        model.add(FRACTION_UNITS * served >= fraction * tau)
    return fraction


def _colocation_constraints(
    model: cp_model.CpModel,
    params: Params,
    x: dict,
    here: list[tuple[int, int]],
    slot: tuple[int, int],
    shared: Shared,
) -> None:
    """(14), (15) for slot (t, k): every model's partners within its room; shared when two or more."""
    t, k = slot
    u, cap = params.util, params.util_cap[t]
    if cap < params.room[t][u]:
        # (14) the ratios hold as predicted only while the GPU has the time: the sum stays ≤ 100 %
        model.add(sum(params.demand[i][o][u] * x[i, o, k] for i, o in here) <= cap)
    room = {(i, o): params.room_of(i, o) for i, o in here}
    # An option whose room exceeds any weighted load the slot can carry (weights < 2) needs no limit.
    limited = [(i, o) for (i, o), r in room.items() if r is not None and params.demand[i][o][u] + r < 2 * cap]
    for a in sorted({params.flight[i][o] for i, o in limited}):
        # lim[t, k, a] = the most weighted load a model at concurrency class a on slot (t, k) may see
        lim = model.new_int_var(0, 2 * WEIGHT_UNITS * cap, f"lim[{t},{k},{a}]")
        # (14) the slot's load weighted as class a sees it, within the tightest room of that class
        seen = params.weights[a]
        weighted = sum(seen[params.flight[i][o]] * params.demand[i][o][u] * x[i, o, k] for i, o in here)
        model.add(weighted <= lim)
        for i, o in limited:
            if params.flight[i][o] == a:
                bound = WEIGHT_UNITS * (params.demand[i][o][u] + room[i, o])
                model.add(lim <= bound).only_enforce_if(x[i, o, k])
    if any((i, o, k) in shared.y for i, o in here):
        # (15) shared when two or more models run on it
        models = len({i for i, _ in here})
        model.add(sum(x[i, o, k] for i, o in here) <= 1 + models * shared.slot[t, k])


def _gpu_constraints(  # noqa: PLR0913 (the slot's context, as the other families take it)
    model: cp_model.CpModel,
    problem: Problem,
    params: Params,
    x: dict,
    used: dict,
    t: int,
    k: int,
    shared: Shared = NO_SHARED,
) -> None:
    """(1), (5), (6), (8), (9), (10), (14), (15) for GPU slot (t, k)."""
    on = {i: _on(params, x, i, t, k) for i in range(len(problem.items))}
    index = {item.model: i for i, item in enumerate(problem.items)}
    # (1) one replica of a model per GPU
    for replicas in on.values():
        if len(replicas) > 1:
            model.add_at_most_one(replicas)
    here = [(i, o) for i, types in enumerate(params.option_type) for o, ot in enumerate(types) if ot == t]
    # (5) capacity per resource, only on used GPUs
    for r, cap in enumerate(params.room[t]):
        model.add(sum(params.demand[i][o][r] * x[i, o, k] for i, o in here) <= cap * used[t, k])
    # (6) models only on used GPUs
    for i, o in here:
        model.add_implication(x[i, o, k], used[t, k])
    # (8) at most K models per GPU
    if params.max_per_gpu is not None:
        model.add(sum(sum(replicas) for replicas in on.values()) <= params.max_per_gpu * used[t, k])
    # (9) apart
    for a, b in problem.rules.apart_pairs:
        if on[index[a]] and on[index[b]]:
            model.add(sum(on[index[a]]) + sum(on[index[b]]) <= 1)
    # (10) together
    for group in problem.groups:
        for a, b in pairwise(group):
            model.add(sum(on[a]) == sum(on[b]))
    if (t, k) in shared.slot:
        _colocation_constraints(model, params, x, here, (t, k), shared)


def build_model(
    problem: Problem, params: Params, slots: list[int], lower: int, upper: int | None
) -> tuple[cp_model.CpModel, ChoiceVars]:
    """Build stage 1 for ``problem`` on ``slots[t]`` GPUs per type (``lower``/``upper``: (12))."""
    model = cp_model.CpModel()
    gpu_slots = [(t, k) for t, n in enumerate(slots) for k in range(n)]
    # x[i, o, k] = 1 if a replica of model i runs at option o on slot k of o's GPU type
    x = {
        (i, o, k): model.new_bool_var(f"x[{i},{o},{k}]")
        for i, types in enumerate(params.option_type)
        for o, t in enumerate(types)
        for k in range(slots[t])
    }
    # used[t, k] = 1 if slot k of GPU type t is a GPU of the plan
    used = {(t, k): model.new_bool_var(f"used[{t},{k}]") for t, k in gpu_slots}
    # shared[t, k], y[i, o, k] and (15)'s y ≥ x + shared − 1, with co-location
    shared = _shared_vars(model, problem, params, x, slots)
    # z (in ChoiceVars.fraction) and (2)-(4)
    # the served terms: w·x, less (w − s)·y on a shared slot
    terms = shared.served(params, x)
    fraction = _demand_constraints(model, problem, params, x, slots, terms)
    for t, k in gpu_slots:
        _gpu_constraints(model, problem, params, x, used, t, k, shared)
    # (7) used slots first, per type
    for t, n in enumerate(slots):
        for k in range(n - 1):
            model.add(used[t, k] >= used[t, k + 1])
    cost = sum(params.cost[t] * used[t, k] for t, k in gpu_slots)
    throughput = sum(w * v for _, w, v in terms)
    if problem.gpu_budget is not None:
        # (11) the budget
        model.add(sum(used.values()) <= problem.gpu_budget)
    variables = ChoiceVars(x=x, used=used, fraction=fraction, cost=cost, throughput=throughput)
    if problem.goal.minimizes:
        # (12) the bounds
        model.add(cost >= lower)
        if upper is not None:
            model.add(cost <= upper)
        model.minimize(cost)
    elif problem.goal is Goal.MAX_THROUGHPUT:
        model.maximize(throughput)
    else:
        model.maximize(fraction)
    return model, variables


def primary(problem: Problem, variables: ChoiceVars) -> cp_model.LinearExpr:
    """The stage-1 objective expression of ``problem``'s goal."""
    if problem.goal.minimizes:
        return variables.cost
    return variables.throughput if problem.goal is Goal.MAX_THROUGHPUT else variables.fraction


def add_tie_break(model: cp_model.CpModel, problem: Problem, variables: ChoiceVars, value: int) -> None:
    """Stage 2: keep the goal at ``value`` or better and optimize the tie-break."""
    replicas = sum(variables.x.values())
    # A weight above any replica count makes the replica term a tie-break of the tie-break.
    weight = len(variables.x) + 1
    if problem.goal.minimizes:
        # (13) the goal stays at V
        model.add(variables.cost <= value)
        if variables.fraction is not None:
            model.maximize(weight * variables.fraction - replicas)
        else:
            model.maximize(variables.throughput)
    else:
        # (13) the goal stays at V
        model.add(primary(problem, variables) >= value)
        model.minimize(weight * variables.cost + replicas)


def add_hint(
    model: cp_model.CpModel, params: Params, variables: ChoiceVars, placements: tuple[Placement, ...]
) -> None:
    """Warm-start from ``placements`` (numbered per type in opening order, as ``choice.greedy`` does)."""
    model.clear_hints()
    chosen = {(p.item, p.option, p.slot) for p in placements}
    opened = {(params.option_type[p.item][p.option], p.slot) for p in placements}
    for key, var in variables.x.items():
        model.add_hint(var, key in chosen)
    for key, var in variables.used.items():
        model.add_hint(var, key in opened)


def solve(
    model: cp_model.CpModel, settings: SolverSettings, stage: cpsat.Stage | None = None
) -> cp_model.CpSolver:
    """Run CP-SAT with ``settings`` (``cpsat.run``); returns the solver holding the result."""
    return cpsat.run(model, settings, stage=stage)


def extract(solver: cp_model.CpSolver, variables: ChoiceVars) -> StageResult:
    """The stage's result; raises ``GpupackError`` on an invalid model (a bug, not bad input)."""
    status = solver.status_name()
    if status == "MODEL_INVALID":
        raise GpupackError("internal error: CP-SAT rejected the multiple-choice model as invalid")
    if status in ("INFEASIBLE", "UNKNOWN"):
        return StageResult(status=status, placements=None, bound=None)
    if status not in ("OPTIMAL", "FEASIBLE"):
        raise GpupackError(f"internal error: unexpected CP-SAT status {status}")
    placements = tuple(
        Placement(i, o, k) for (i, o, k), var in variables.x.items() if solver.boolean_value(var)
    )
    return StageResult(status=status, placements=placements, bound=solver.best_objective_bound)
