"""Render a plan as the table the CLI prints (the blog's Tables 3 and 4, with a proof line)."""

from __future__ import annotations

from tabulate import tabulate

from packer.fleet_problem import FleetProblem
from packer.fleet_report import fleet_table
from packer.plan import Plan
from packer.problem import HOST_MEMORY, Problem


def _point_label(plan: Plan) -> str | None:
    """``batch 2, concurrency 4`` when every model runs at the same point, else ``None``."""
    points = {(p.batch_size, p.concurrency) for g in plan.gpus for p in g.points}
    if len(points) != 1:
        return None
    batch, concurrency = points.pop()
    return f"batch {batch}, concurrency {concurrency}"


def summary_line(plan: Plan) -> str:
    """``4 GPUs, lower bound 4: optimal, solved in 0.08 s (first-fit decreasing: 4)``."""
    noun = "GPU" if plan.gpu_count == 1 else "GPUs"
    proof = "optimal" if plan.optimal else f"not proven optimal, gap {plan.gap}"
    return (
        f"{plan.gpu_count} {noun}, lower bound {plan.lower_bound}: {proof}, "
        f"solved in {plan.solve_seconds:.2f} s (first-fit decreasing: {plan.ffd_gpu_count})"
    )


def plan_table(plan: Plan, problem: Problem | FleetProblem) -> str:
    """One row per GPU: models, memory with the server, utilizations, throughput; then the summary.

    Plans of the generalized planner (a ``FleetProblem``) add GPU types, cost, chosen points and targets.
    """
    if isinstance(problem, FleetProblem):
        return fleet_table(plan, problem)
    label = _point_label(plan)
    memory = (
        "HOST MEMORY (MB, with server)" if problem.resources[0] is HOST_MEMORY else "MEMORY (MB, with server)"
    )
    rows = []
    for gpu in plan.gpus:
        names = [p.model if label else f"{p.model} (b{p.batch_size} c{p.concurrency})" for p in gpu.points]
        rows.append(
            [gpu.index, ", ".join(names), gpu.memory_mb, gpu.gpu_util_pct, gpu.mem_util_pct, gpu.throughput]
        )
    headers = ["GPU", "MODELS", memory, "GPU UTIL (%)", "MEM UTIL (%)", "THROUGHPUT (infer/s)"]
    lines = [tabulate(rows, headers=headers, floatfmt=".6g")]
    capacity = f"GPU memory {plan.gpu_memory_mb:g} MB, server {plan.server_memory_mb:g} MB"
    thresholds = problem.thresholds
    limits = f"memory ≤ {thresholds.max_memory_pct:g} %"
    if len(problem.resources) > 1:
        limits += (
            f", GPU util ≤ {thresholds.max_gpu_util_pct:g} %, mem util ≤ {thresholds.max_mem_util_pct:g} %"
        )
    lines.append(f"objective {plan.objective.value}; {capacity}; {limits}" + (f"; {label}" if label else ""))
    lines.extend(f"note: {note}" for note in plan.notes)
    lines.append(summary_line(plan))
    return "\n".join(lines)
