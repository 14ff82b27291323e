"""An independent check of a plan against its problem, in real numbers (not the solver's integers)."""

from __future__ import annotations

from packer.plan import Plan
from packer.problem import Problem

# Totals are summed in a different order than the solver's integers: allow float noise only.
_TOLERANCE = 1e-6


def check_plan(problem: Problem, plan: Plan) -> list[str]:
    """Every violation of ``plan`` against ``problem``, as sentences; empty when the plan is valid.

    Checks: each model placed exactly once, at the point the problem chose; per GPU and resource,
    ``server + sum(model - server)`` within ``threshold × capacity``; the reported totals; the
    lower bound not above the GPU count, and ``optimal`` only with the count at the bound.
    """
    problems: list[str] = []
    placed = [p for gpu in plan.gpus for p in gpu.points]
    wanted = {item.name: item for item in problem.items}
    names = [p.model for p in placed]
    for name in sorted(set(wanted) - set(names)):
        problems.append(f"model {name} is not placed")
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"model {name} is placed {names.count(name)} times")
    for point in placed:
        if point.model not in wanted:
            problems.append(f"model {point.model} is not in the problem")
        elif point != wanted[point.model].point:
            problems.append(f"model {point.model} runs at a point the problem did not choose")
    for gpu in plan.gpus:
        if not gpu.points:
            problems.append(f"GPU {gpu.index} is empty")
        items = [wanted[p.model] for p in gpu.points if p.model in wanted]
        for r, resource in enumerate(problem.resources):
            server = problem.server_load[r]
            total = server + sum(item.demand[r] for item in items)
            limit = server + problem.capacity[r]
            if total > limit + _TOLERANCE:
                problems.append(
                    f"GPU {gpu.index}: {resource.name} {total:g} {resource.unit} > limit {limit:g}"
                )
            reported = gpu.memory_mb if r == 0 else getattr(gpu, resource.attr)
            if abs(reported - total) > _TOLERANCE * max(1.0, total):
                problems.append(f"GPU {gpu.index}: reported {resource.name} {reported:g}, actual {total:g}")
    if plan.lower_bound > plan.gpu_count:
        problems.append(f"lower bound {plan.lower_bound} above the GPU count {plan.gpu_count}")
    if plan.lower_bound < problem.lower_bound():
        problems.append(f"lower bound {plan.lower_bound} below the simple bound {problem.lower_bound()}")
    if plan.optimal and plan.solver_status != "OPTIMAL" and plan.lower_bound != plan.gpu_count:
        problems.append("plan claims optimality without reaching its lower bound")
    return problems
