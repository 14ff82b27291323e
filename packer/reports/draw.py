"""Draw the report's figures with matplotlib, each from its data record alone, as PNG bytes.

Figures are ``matplotlib.figure.Figure`` objects rendered by the Agg canvas: no pyplot, no
global state, no display needed. PNGs carry no metadata, so the same data give the same bytes.
The plan's figures are here; the fleet overview and the validation's are in ``draw_fleet``.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from packer.reports.figures import BoundFigure, GpuFigure, ModelFigure

DPI = 100
SERVER_COLOR = "#9e9e9e"
CHOSEN_COLOR = "#d62728"
LIMIT_COLOR = "#d62728"
# A log scale once the latencies span this factor (a sweep from 1 to 500 ms reads better).
LOG_SPAN = 50


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes, without metadata."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
    return buffer.getvalue()


def model_png(data: ModelFigure) -> bytes:
    """Throughput against p99 latency over the profiled points; the chosen points starred."""
    figure = Figure(figsize=(6.4, 4.2))
    ax = figure.add_subplot()
    latencies = []
    for gpu_type, dots in data.measured:
        ax.scatter(
            [d.latency_p99_ms for d in dots],
            [d.throughput for d in dots],
            s=18,
            alpha=0.6,
            label=f"profiled ({gpu_type})" if len(data.measured) > 1 else "profiled",
        )
        latencies += [d.latency_p99_ms for d in dots]
    for k, dot in enumerate(data.chosen):
        where = (dot.latency_p99_ms, dot.throughput)
        label = "chosen" if k == 0 else None
        ax.scatter(*where, marker="*", s=220, color=CHOSEN_COLOR, edgecolors="black", zorder=3, label=label)
        ax.annotate(dot.label, where, xytext=(-8, 8), textcoords="offset points", fontsize=8, ha="right")
    if latencies and min(latencies) > 0 and max(latencies) / min(latencies) > LOG_SPAN:
        ax.set_xscale("log")
    ax.margins(x=0.08, y=0.12)
    ax.set_xlabel("p99 latency (ms)")
    ax.set_ylabel("throughput (infer/s)")
    hidden = f"  ({data.without_p99} point{'s' if data.without_p99 > 1 else ''} without p99 not shown)"
    title = data.model + (hidden if data.without_p99 else "")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return png(figure)


def gpu_png(data: GpuFigure) -> bytes:
    """A stacked bar per resource: the server, then each model's own share; the limit as a line."""
    figure = Figure(figsize=(6.4, 3.8))
    ax = figure.add_subplot()
    models = list(dict.fromkeys(m for bar in data.bars for m, _ in bar.shares))
    colors = {m: f"C{k % 10}" for k, m in enumerate(models)}
    for x, bar in enumerate(data.bars):
        if bar.total_pct is None:
            ax.text(x, 2, "not\nmeasured", ha="center", va="bottom", fontsize=8, color="gray")
            continue
        ax.bar(x, bar.server_pct, color=SERVER_COLOR, label="server" if x == 0 else None)
        bottom = bar.server_pct
        for model, share in bar.shares:
            ax.bar(x, share, bottom=bottom, color=colors[model], label=model if x == 0 else None)
            bottom += share
        if bar.limit_pct is not None:
            ax.hlines(bar.limit_pct, x - 0.45, x + 0.45, colors=LIMIT_COLOR, linestyles="--")
    ax.set_xticks(range(len(data.bars)))
    ticks = [f"{b.resource}\n(of {b.capacity})" + ("" if b.limit_pct else "\nnot packed") for b in data.bars]
    ax.set_xticklabels(ticks, fontsize=8)
    ax.set_ylabel("% of the GPU")
    ax.set_title(f"GPU {data.index} ({data.gpu_type}); dashed: limit", fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return png(figure)


def bound_png(data: BoundFigure) -> bytes:
    """GPUs of the plan, its lower bound and first-fit decreasing's; the goal's value and bound."""
    goal_in_gpus = data.goal == "min-gpus"
    figure = Figure(figsize=(6.4 if goal_in_gpus else 9.6, 3.2))
    axes = [figure.add_subplot(1, 1 if goal_in_gpus else 2, 1)]
    names = ["lower bound", "plan", "first-fit decreasing"]
    values = [data.lower_bound, data.gpu_count, data.ffd_gpu_count]
    axes[0].bar(names, values, color=["#2ca02c", "#1f77b4", "#9e9e9e"])
    axes[0].set_ylabel("GPUs")
    axes[0].set_title("GPUs" + (": optimal" if data.optimal and goal_in_gpus else ""), fontsize=10)
    if not goal_in_gpus:
        axes.append(figure.add_subplot(1, 2, 2))
        side = "lower bound" if data.goal.startswith("min") else "upper bound"
        axes[1].bar([side, "plan"], [data.bound, data.value], color=["#2ca02c", "#1f77b4"])
        axes[1].set_title(f"goal {data.goal}" + (": optimal" if data.optimal else ""), fontsize=10)
    for ax in axes:
        for container in ax.containers:
            ax.bar_label(container, fmt="%g", fontsize=8)
    return png(figure)
