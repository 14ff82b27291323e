"""Draw the fleet overview: every GPU's fill in one figure, readable at 3 GPUs and at 3,000.

Left, the GPUs sorted by memory fill (the most full first): memory as a filled step curve, the two
utilizations of the same GPUs as dots, each resource's limit dashed. Right, a histogram per resource
of how many GPUs are filled how far, sharing the left panel's axis. No artist is drawn per GPU beyond
a dot, so the time to draw grows with the fleet only through the plotted arrays.
"""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from packer.reports.draw import png
from packer.reports.fleet import FleetFigure

# Up to this many GPUs the x axis names each GPU; above, it counts them (sorted, not by index).
LABELLED_GPUS_MAX = 32
# Histogram bins, % of a GPU.
BIN_PCT = 5
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c")


def _order(figure: FleetFigure) -> list[int]:
    """GPU positions sorted by memory fill, the most full first (unmeasured last)."""
    memory = figure.fills[0].fill_pct
    return sorted(range(len(memory)), key=lambda k: -(memory[k] if memory[k] is not None else -math.inf))


def _title(figure: FleetFigure) -> str:
    n = len(figure.gpus)
    types = ", ".join(f"{count:,} × {name}" for name, count in figure.types)
    per = figure.models_per_gpu
    spread = (
        f"{min(per)}–{max(per)} models" if per and min(per) != max(per) else _models(per[0] if per else 0)
    )
    return f"{n:,} GPU{'s' if n != 1 else ''} ({types}), {spread} per GPU; sorted by memory fill"


def _models(n: int) -> str:
    return f"{n} model{'s' if n != 1 else ''}"


def fleet_png(figure: FleetFigure) -> bytes:
    """The overview of every GPU (module docstring)."""
    fig = Figure(figsize=(11.0, 4.2))
    grid = fig.add_gridspec(1, 2, width_ratios=(3, 1), wspace=0.05)
    ax = fig.add_subplot(grid[0, 0])
    hist = fig.add_subplot(grid[0, 1], sharey=ax)
    order = _order(figure)
    xs = list(range(len(order)))
    top = 100.0
    for k, (fill, color) in enumerate(zip(figure.fills, COLORS, strict=False)):
        values = [fill.fill_pct[i] for i in order]
        known = [v for v in values if v is not None]
        if not known:
            ax.plot([], [], color=color, label=f"{fill.resource}: not measured")
            continue
        top = max(top, *known)
        label = fill.resource + (f" (limit {fill.limit_pct:g} %)" if fill.limit_pct is not None else "")
        if k == 0:
            ys = [math.nan if v is None else v for v in values]
            ax.stairs(ys, [x - 0.5 for x in [*xs, len(xs)]], fill=True, color=color, alpha=0.45, label=label)
        else:
            pairs = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
            size = 14 if len(xs) <= LABELLED_GPUS_MAX else 4
            ax.scatter(
                [x for x, _ in pairs], [v for _, v in pairs], s=size, color=color, label=label, zorder=3
            )
        if fill.limit_pct is not None:
            ax.axhline(fill.limit_pct, color=color, linestyle="--", linewidth=1)
        bins = list(range(0, int(top) + 2 * BIN_PCT, BIN_PCT))
        hist.hist(known, bins=bins, orientation="horizontal", histtype="step", color=color, linewidth=1.5)
    if len(xs) <= LABELLED_GPUS_MAX:
        ax.set_xticks(xs)
        ax.set_xticklabels([str(figure.gpus[i]) for i in order], fontsize=7)
        ax.set_xlabel("GPU (index)")
    else:
        ax.set_xlabel(f"GPUs, most full first (of {len(xs):,})")
    ax.set_xlim(-0.5, max(len(xs), 1) - 0.5)
    ax.set_ylim(0, top * 1.05)
    ax.set_ylabel("% of the GPU (server included)")
    ax.set_title(_title(figure), fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    hist.set_xlabel("GPUs")
    hist.set_title(f"how full ({BIN_PCT} % bins)", fontsize=10)
    hist.tick_params(labelleft=False)
    hist.grid(alpha=0.3)
    return png(fig)
