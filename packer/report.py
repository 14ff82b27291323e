"""Render a plan as the table the CLI prints: GPUs (the blog's Tables 3 and 4), models, the proof line.

The GPU table gains a TYPE column on mixed fleets and COST on priced ones, and model names their
points when models run at different points; the model table appears when points are chosen or
targets set.
"""

from __future__ import annotations

from collections import Counter

from packer.inputs import DEFAULT_TYPE
from packer.labels import point_label
from packer.plan import Gpu, ModelPlan, Plan
from packer.problem import Problem
from packer.resources import HOST_MEMORY, limit_pct
from packer.settings import Goal, Objective
from packer.table_fit import render, wrap_line


def _same_point(plan: Plan) -> str | None:
    """``batch 2, concurrency 4`` when every replica runs at that point, else ``None``."""
    points = {
        (p.batch_size, p.concurrency, p.instance_count, p.request_rate, p.variant)
        for g in plan.gpus
        for p in g.points
    }
    if len(points) != 1:
        return None
    batch, concurrency, instances, rate, variant = points.pop()
    if variant:
        return None  # variants are named per model: the table names each model's point
    load = f"request rate {rate:g}/s" if rate is not None else f"concurrency {concurrency}"
    return f"batch {batch}, {load}" + (f", {instances} instances" if instances > 1 else "")


_point = point_label


def _gpu_rows(plan: Plan, problem: Problem, label: str | None) -> tuple[list[str], list[list]]:
    show_type = len(problem.types) > 1 or problem.types[0].name != DEFAULT_TYPE
    show_cost = plan.total_cost_per_hour is not None
    memory = (
        "HOST MEMORY (MB, with server)" if problem.resources[0] is HOST_MEMORY else "MEMORY (MB, with server)"
    )
    headers = ["GPU", *(["TYPE"] if show_type else []), "MODELS", memory, "GPU UTIL (%)", "MEM UTIL (%)"]
    headers += ["THROUGHPUT (infer/s)", *(["COST (/h)"] if show_cost else [])]
    headers += [MIG_HEADER] if problem.sliced else []
    rows = []
    for gpu in plan.gpus:
        names = ", ".join(p.model if label else f"{p.model} ({_point(p)})" for p in gpu.points)
        row = [gpu.index, *([gpu.gpu_type] if show_type else []), names, gpu.memory_mb, gpu.gpu_util_pct]
        row += [gpu.mem_util_pct, gpu.throughput, *([gpu.cost_per_hour] if show_cost else [])]
        rows.append(row + ([_layout(gpu)] if problem.sliced else []))
    return headers, rows


MIG_HEADER = "MIG (profile@start: models)"


def _layout(gpu: Gpu) -> str:
    """A GPU's MIG layout for the table: each slice and its models, or ``whole``."""
    if gpu.mig is None:
        return "whole"
    return ", ".join(f"{s.profile}@{s.start}: {' + '.join(p.model for p in s.points)}" for s in gpu.mig)


def _worst(m: ModelPlan, attr: str) -> float | None:
    values = [getattr(p, attr) for _, p in m.replicas if getattr(p, attr) is not None]
    return max(values) if values else None


def _model_rows(plan: Plan) -> tuple[list[str], list[list]]:
    headers = ["MODEL", "REPLICAS", "POINTS (batch, concurrency)", "THROUGHPUT (infer/s)", "TARGET (infer/s)"]
    headers += ["TARGET MET (%)", "P99 (ms, worst)", "P99 BOUND (ms)"]
    # Streaming (LLM) models: their tokens/s and token latencies; a target in tokens/s says so.
    streaming = any(m.tokens_per_s is not None for m in plan.models)
    if streaming:
        headers += ["TOKENS/S", "TTFT P99 (ms, worst)", "ITL P99 (ms, worst)"]
    rows = []
    for m in plan.models:
        points = Counter(_point(p) for _, p in m.replicas)
        target = m.target if m.target is None or m.target_unit == "infer/s" else f"{m.target:g} tokens/s"
        row = [
            m.model,
            len(m.replicas),
            ", ".join(f"{n}× {pt}" if n > 1 else pt for pt, n in points.items()),
            m.throughput,
            target,
            None if m.target_fraction is None else 100 * m.target_fraction,
            _worst(m, "latency_p99_ms"),
            m.max_latency_p99_ms,
        ]
        if streaming:
            row += [m.tokens_per_s, _worst(m, "ttft_p99_ms"), _worst(m, "itl_p99_ms")]
        rows.append(row)
    return headers, rows


def _settings_line(plan: Plan, problem: Problem, label: str | None) -> str:
    types = "; ".join(
        ("GPU" if t.name == DEFAULT_TYPE else t.name)
        + f" memory {t.memory_mb:g} MB"
        + (
            f" ({t.memory_mb - t.usable_memory_mb:g} MB reserved by the driver)"
            if t.usable_memory_mb < t.memory_mb
            else ""
        )
        + f", server {problem.server[k][0]:g} MB"
        + (f", {t.cost_per_hour:g}/h" if t.cost_per_hour is not None else "")
        + (f", {t.count} available" if t.count is not None else "")
        for k, t in enumerate(problem.types)
    )
    headroom = problem.rules.headroom_pct
    limits = ", ".join(
        f"{r.name} ≤ {limit_pct(r, problem.thresholds, headroom):g} %" for r in problem.resources
    )
    if problem.plain:
        ties = "lowest peak utilization" if problem.objective is Objective.THROUGHPUT else ""
    elif problem.goal.minimizes:
        ties = "highest smallest target fraction" if problem.has_targets else "highest total throughput"
    else:
        ties = (
            "fewest GPUs"
            if problem.goal is Goal.MAX_THROUGHPUT and plan.total_cost_per_hour is None
            else "lowest cost"
        )
    points = "points chosen with the placement" if problem.choose_points else "fixed points"
    how = "; ".join(([f"ties: {ties}"] if ties else []) + [points])
    parts = [f"goal {problem.goal.value} ({how})", types, limits]
    if problem.colocation is not None:
        parts.append(
            f"a GPU shared only while each model on it is predicted ≥ {problem.colocation:g} of its profiled "
            "throughput, and promised that (co-location)"
        )
    slowed = [m for m, s in problem.slowdown.items() if s > 1]
    if slowed:
        parts.append(f"utilizations of {len(slowed)} models times their measured slowdown (--interference)")
    rules = problem.rules
    if rules.max_models_per_gpu is not None:
        parts.append(f"at most {rules.max_models_per_gpu} models per GPU")
    for name, count in (
        ("pin", len(rules.pins)),
        ("apart", len(rules.apart)),
        ("together", len(rules.together)),
    ):
        if count:
            parts.append(f"{count} {name} rule{'s' if count > 1 else ''}")
    return "; ".join(parts + ([label] if label else []))


def summary_line(plan: Plan) -> str:
    """The proof line: ``6 GPUs (...), cost 5.2/h, lower bound 5.2/h: optimal, solved in 0.43 s (...)``."""
    goal, value, bound = plan.goal, plan.objective_value, plan.objective_bound
    n = plan.gpu_count
    gpus = f"{n} GPU{'s' if n != 1 else ''}" if plan.gpu_budget is None else f"{n} of {plan.gpu_budget} GPUs"
    kinds = Counter(g.gpu_type for g in plan.gpus)
    if len(kinds) > 1 or DEFAULT_TYPE not in kinds:
        gpus += " (" + ", ".join(f"{c} {t}" for t, c in kinds.items()) + ")"
    fmt = {
        Goal.MIN_GPUS: lambda x: f"{x:g}",
        Goal.MIN_COST: lambda x: f"{x:.2f}/h",
        Goal.MAX_THROUGHPUT: lambda x: f"{x:.2f} infer/s",
        Goal.MAX_TARGET_FRACTION: lambda x: f"{100 * x:.1f} %",
    }[goal]
    head = {
        Goal.MIN_GPUS: gpus,
        Goal.MIN_COST: f"{gpus}, cost {fmt(value)}",
        Goal.MAX_THROUGHPUT: f"{gpus}, total throughput {fmt(value)}",
        Goal.MAX_TARGET_FRACTION: f"{gpus}, every target at least {fmt(value)} met",
    }[goal]
    side = "lower" if goal.minimizes else "upper"
    if plan.optimal:
        proof = "optimal"
    else:
        gap = plan.objective_gap
        gap_text = f"{100 * gap:.1f} percentage points" if goal is Goal.MAX_TARGET_FRACTION else fmt(gap)
        proof = f"not proven optimal, gap {gap_text} ({100 * gap / max(abs(value), 1e-9):.1f} %)"
    n_ffd = plan.ffd_gpu_count
    greedy = f"{n_ffd} GPU{'s' if n_ffd != 1 else ''}" if n_ffd else "no plan"
    return (
        f"{head}, {side} bound {fmt(bound)}: {proof}, solved in {plan.solve_seconds:.2f} s "
        f"(first-fit decreasing: {greedy})"
    )


def plan_table(plan: Plan, problem: Problem, width: int | None = None) -> str:
    """The GPU table, the model table (when points are chosen or targets set), settings and proof.

    With ``width`` (a terminal's columns) the tables and lines are fitted to it (``table_fit``).
    """
    label = _same_point(plan)
    headers, rows = _gpu_rows(plan, problem, label)
    wrapped = ((headers.index("MODELS"), ", "),) + (((len(headers) - 1, ", "),) if problem.sliced else ())
    lines = [render(headers, rows, wrapped, width)]
    if problem.choose_points or problem.has_targets:
        headers, rows = _model_rows(plan)
        lines += ["", render(headers, rows, ((2, ", "),), width)]
    lines.append(wrap_line(_settings_line(plan, problem, label), width))
    lines.extend(wrap_line(f"note: {note}", width) for note in plan.notes)
    lines.append(wrap_line(summary_line(plan), width))
    return "\n".join(lines)
