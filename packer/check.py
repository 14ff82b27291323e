"""An independent check of any plan, in real numbers, from the raw profiles and the rules.

It recomputes everything from the GPU types' profiles (not the solver's integers or the problem's
demands): per GPU, ``server + Σ (model − server)`` within ``capacity × min(threshold, 100 − headroom) %``
for every packed resource; type counts and the GPU budget; each point measured in its type's profile,
within the model's p99 bound and on its pinned type; one replica of a model per GPU; targets; the
model limit per GPU; apart and together; the predicted ratios of models sharing a GPU, each at
least its least allowed one (``packer.colocation``); and the reported totals, cost, goal value and
bound.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from packer.check_index import PlanIndex, point_problems
from packer.inputs import GpuType
from packer.mig.check import check_sliced_gpu, servers
from packer.plan import Gpu, Plan
from packer.problem import Problem
from packer.resources import Resource, limit, point_demand
from packer.settings import Goal

# Totals are summed in another order than the planner's: allow float noise only.
_TOLERANCE = 1e-6


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _TOLERANCE * max(1.0, abs(a), abs(b))


def _check_capacity(
    problem: Problem, gpu: Gpu, gpu_type: GpuType, packed: frozenset[Resource], where: str
) -> list[str]:
    """Every packed resource within its limit, and the reported totals right; O(models on the GPU)."""
    out = []
    for r in problem.resources:
        if r not in packed:
            # Not measured on this type: not packed there, and reported as unknown.
            if getattr(gpu, r.attr) is not None:
                out.append(f"{where}: reports {r.name} that its type's profile does not measure")
            continue
        server = getattr(gpu_type.profile.server, r.attr) or 0.0
        allowed = limit(r, gpu_type.usable_memory_mb, problem.thresholds, problem.rules.headroom_pct)
        total = server + sum(
            point_demand(r, p, server, problem.slowdown.get(p.model, 1.0), allowed - server) or 0.0
            for p in gpu.points
        )
        if total > allowed + _TOLERANCE:
            out.append(f"{where}: {r.name} {total:g} {r.unit} > limit {allowed:g}")
        reported = gpu.memory_mb if r.is_memory else getattr(gpu, r.attr)
        if not _close(reported, total):
            out.append(f"{where}: reported {r.name} {reported:g}, actual {total:g}")
    return out


def _check_gpu(problem: Problem, gpu: Gpu, gpu_type: GpuType, index: PlanIndex) -> list[str]:
    """Capacity, reported totals, points, pins, p99 bounds, replicas per GPU, model limit.

    Work is proportional to the GPU's own models: everything about the rest comes from ``index``.
    """
    out = []
    where = f"GPU {gpu.index} ({gpu.gpu_type})"
    names = [p.model for p in gpu.points]
    if not names:
        out.append(f"{where} is empty")
    out += [f"{where} runs {n} twice" for n, c in Counter(names).items() if c > 1]
    most = problem.rules.max_models_per_gpu
    if most is not None and len(names) > most:
        out.append(f"{where} runs {len(names)} models, more than {most}")
    if gpu.gpu_memory_mb != gpu_type.memory_mb or gpu.cost_per_hour != gpu_type.cost_per_hour:
        out.append(f"{where}: memory or cost differs from its type's")
    out += _check_capacity(problem, gpu, gpu_type, index.packed[gpu_type.name], where)
    out += point_problems(problem, where, gpu.points, gpu_type, index)
    out += _check_colocation(problem, gpu, index.type_index[gpu_type.name], where)
    return out


def _shown(keys: list[tuple[int, int]]) -> list:
    """Servers as GPU indices, ``GPU@start`` for a MIG slice."""
    return [g if start < 0 else f"{g}@{start}" for g, start in keys]


def _served(problem: Problem, plan: Plan) -> Counter:
    """Per model, what its replicas serve in its target's unit (infer/s without a target)."""
    targets = {item.model: item.target for item in problem.items}
    served: Counter = Counter()
    for gpu in plan.gpus:
        for k, p in enumerate(gpu.points):
            target = targets.get(p.model)
            served[p.model] += (target.rate(p) if target else p.throughput or 0.0) * gpu.ratio(k)
    return served


def _check_colocation(problem: Problem, gpu: Gpu, t: int, where: str) -> list[str]:
    """The predicted ratios recomputed, and each at least its model's least allowed ratio."""
    expected = problem.predicted_ratios(t, gpu.points)
    if len(expected) != len(gpu.ratios) or not all(map(_close, expected, gpu.ratios)):
        return [f"{where}: predicted ratios {list(gpu.ratios)}, actual {list(expected)}"]
    out = []
    for p, ratio in zip(gpu.points, expected, strict=False):  # none alone
        least = problem.least_ratio(p)
        if ratio < least - _TOLERANCE:
            out.append(
                f"{where}: {p.model} is predicted at {ratio:.3f} of its profiled throughput beside the "
                f"others, below {least:.3f}"
            )
    return out


def _check_models(problem: Problem, plan: Plan) -> list[str]:
    """Replicas and targets per model, and the plan's per-model summary."""
    out = []
    # A model's servers: (GPU, MIG slice start or -1 for the whole GPU); the rules hold per server.
    hosts: dict[str, list[tuple[int, int]]] = {item.model: [] for item in problem.items}
    served = _served(problem, plan)
    for gpu in plan.gpus:
        for key, names in servers(gpu):
            for name in names:
                hosts.setdefault(name, []).append(key)
    for item in problem.items:
        count = len(hosts[item.model])
        if count == 0:
            out.append(f"model {item.model} is not placed")
        elif item.target is None and count != 1:
            out.append(
                f"model {item.model} is placed {count} times: {count} replicas, expected 1 (no target)"
            )
        elif (
            item.target is not None
            and problem.goal.minimizes
            and served[item.model] < item.target.throughput * (1 - _TOLERANCE)
        ):
            out.append(
                f"model {item.model} serves {served[item.model]:g} {item.target.unit} "
                f"< target {item.target.throughput:g}"
            )
    for a, b in problem.rules.apart_pairs:
        if set(hosts[a]) & set(hosts[b]):
            out.append(f"models {a} and {b} share a GPU but must be kept apart")
    for group in problem.rules.together:
        for a, b in pairwise(group):
            if sorted(hosts[a]) != sorted(hosts[b]):
                out.append(
                    f"models {a} and {b} must share GPUs but run on {_shown(hosts[a])} and {_shown(hosts[b])}"
                )
    summary = {m.model: sorted(g for g, _ in m.replicas) for m in plan.models}
    if summary != {m: sorted(g for g, _ in keys) for m, keys in hosts.items()}:
        out.append("the per-model replica summary does not match the GPUs")
    return out


def _check_goal(problem: Problem, plan: Plan) -> list[str]:
    """Counts, budget, cost, the goal's value and bound, and the proof claims."""
    out = []
    used = Counter(g.gpu_type for g in plan.gpus)
    for gpu_type in problem.types:
        if gpu_type.count is not None and used[gpu_type.name] > gpu_type.count:
            out.append(f"{used[gpu_type.name]} GPUs of type {gpu_type.name}, only {gpu_type.count} available")
    if problem.gpu_budget is not None and plan.gpu_count > problem.gpu_budget:
        out.append(f"{plan.gpu_count} GPUs, above the budget of {problem.gpu_budget}")
    cost = sum(g.cost_per_hour or 0.0 for g in plan.gpus)
    if plan.total_cost_per_hour is not None and not _close(plan.total_cost_per_hour, cost):
        out.append(f"reported cost {plan.total_cost_per_hour:g}/h, actual {cost:g}/h")
    served = _served(problem, plan)
    fractions = [served[i.model] / i.target.throughput for i in problem.items if i.target is not None]
    actual = {
        Goal.MIN_GPUS: float(plan.gpu_count),
        Goal.MIN_COST: cost,
        Goal.MAX_THROUGHPUT: sum(g.throughput for g in plan.gpus),
        Goal.MAX_TARGET_FRACTION: min(fractions, default=0.0),
    }[problem.goal]
    value, bound = plan.objective_value, plan.objective_bound
    if plan.goal is not problem.goal:
        out.append(f"the plan's goal {plan.goal.value} is not the problem's {problem.goal.value}")
    if not _close(value, actual):
        out.append(f"reported {problem.goal.value} value {value:g}, actual {actual:g}")
    if (bound > value + _TOLERANCE) if problem.goal.minimizes else (bound < value - _TOLERANCE):
        out.append(f"bound {bound:g} is on the wrong side of the value {value:g}")
    if plan.optimal and not _close(bound, value):
        out.append("plan claims optimality with a gap between value and bound")
    if plan.lower_bound > plan.gpu_count:
        out.append(f"lower bound {plan.lower_bound} above the GPU count {plan.gpu_count}")
    if (
        problem.goal is Goal.MIN_GPUS
        and plan.optimal
        and plan.solver_status != "OPTIMAL"
        and plan.lower_bound != plan.gpu_count
    ):
        out.append("plan claims optimality without reaching its lower bound")
    return out


def check_plan(problem: Problem, plan: Plan) -> list[str]:
    """Every violation of ``plan`` against ``problem``, as sentences; empty when the plan is valid."""
    problems: list[str] = []
    types = {t.name: t for t in problem.types}
    index = PlanIndex.of(problem)
    for k, gpu in enumerate(plan.gpus):
        if gpu.index != k:
            problems.append(f"GPU {gpu.index} is numbered out of order (expected {k})")
        if gpu.gpu_type not in types:
            problems.append(f"GPU {gpu.index} has unknown type {gpu.gpu_type!r}")
            continue
        if gpu.mig is None:
            problems += _check_gpu(problem, gpu, types[gpu.gpu_type], index)
        else:
            problems += check_sliced_gpu(problem, gpu, types[gpu.gpu_type], index)
    return problems + _check_models(problem, plan) + _check_goal(problem, plan)
