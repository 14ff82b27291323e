"""Draw what ``gpupack validate`` measured against what the plan promised, readable at any fleet size.

Per model (each on its GPU) and per GPU, one figure of two panels: measured against promised
throughput (one dot each, the lines "as promised" and "min ratio × promised"; those that fell short
red crosses), and the ratio measured / promised as bars against the min-ratio line. Up to
``LABELLED_MAX`` bars are named and in plan order; above, they are sorted by ratio, the worst first.
Memory: each GPU's peak against what the plan said it holds (bars up to ``LABELLED_MAX`` GPUs, one
dot per GPU above); a GPU that held more than planned is red.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from packer.reports.draw import CHOSEN_COLOR, LOG_SPAN, png
from packer.reports.validation import MemoryUse, Promise

# Up to this many bars each is named, in plan order; more are sorted by value and left unnamed.
LABELLED_MAX = 40
# The points that fell short are named beside them when there are at most this many.
ANNOTATED_MAX = 8
OK_COLOR = "#1f77b4"
SHORT_COLOR = CHOSEN_COLOR


def _label(p: Promise) -> str:
    return f"GPU {p.gpu}" + (f" {p.model}" if p.model else "")


def _versus(ax: Axes, promises: Sequence[Promise], min_ratio: float) -> None:
    """Measured against promised, one dot each; the short ones red and (the worst) named."""
    xs = [p.promised for p in promises]
    ys = [p.measured or 0.0 for p in promises]
    for short, color, marker in ((False, OK_COLOR, "o"), (True, SHORT_COLOR, "x")):
        pick = [k for k, p in enumerate(promises) if p.short == short]
        label = f"{'short' if short else 'holds'} ({len(pick):,})"
        ax.scatter(
            [xs[k] for k in pick], [ys[k] for k in pick], s=16, color=color, marker=marker, label=label
        )
    high = max([*xs, *ys, 1e-9])
    low = min(v for v in [*xs, *ys, high] if v > 0)
    log = min(ys + xs) > 0 and high / low > LOG_SPAN
    line = [low if log else 0.0, high]
    ax.plot(line, line, color="gray", linewidth=1, label="as promised")
    ax.plot(
        line,
        [min_ratio * v for v in line],
        color=SHORT_COLOR,
        linestyle="--",
        linewidth=1,
        label=f"{min_ratio:g} × promised",
    )
    short = [p for p in promises if p.short]
    if len(short) <= ANNOTATED_MAX:  # more would cover each other: the page lists the worst instead
        for p in short:
            where = (p.promised, p.measured or 0.0)
            ax.annotate(_label(p), where, xytext=(4, -10), textcoords="offset points", fontsize=7)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("promised (profiled) throughput (infer/s)")
    ax.set_ylabel("measured throughput (infer/s)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")


def _ratios(ax: Axes, promises: Sequence[Promise], min_ratio: float, what: str) -> None:
    """The ratio measured / promised as bars against the min-ratio line (module docstring)."""
    shown = [p for p in promises if p.ratio is not None]
    named = len(shown) <= LABELLED_MAX
    if not named:
        shown = sorted(shown, key=lambda p: p.ratio)  # type: ignore[arg-type, return-value]
    xs = range(len(shown))
    colors = [SHORT_COLOR if p.short else OK_COLOR for p in shown]
    ax.bar(xs, [p.ratio for p in shown], color=colors, width=0.8 if named else 1.0)
    ax.axhline(1.0, color="gray", linewidth=1)
    ax.axhline(min_ratio, color=SHORT_COLOR, linestyle="--", linewidth=1, label=f"min ratio {min_ratio:g}")
    if named:
        ax.set_xticks(list(xs))
        ax.set_xticklabels([_label(p) for p in shown], fontsize=7, rotation=45, ha="right")
    else:
        ax.set_xlabel(f"{len(shown):,} {what}, worst first")
    top = max([1.0, *(p.ratio for p in shown)])  # type: ignore[misc]
    ax.set_ylim(0, top * 1.1)
    ax.set_ylabel("measured / promised")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="lower right")


def throughput_png(promises: Sequence[Promise], min_ratio: float, what: str) -> bytes:
    """Promised against measured throughput of ``promises`` (models on their GPUs, or GPUs)."""
    figure = Figure(figsize=(12.0, 4.4))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    _versus(left, promises, min_ratio)
    _ratios(right, promises, min_ratio, what)
    short = sum(p.short for p in promises)
    figure.suptitle(
        f"{what}: {short:,} of {len(promises):,} short (failed, or below {min_ratio:g} × promised)",
        fontsize=10,
    )
    return png(figure)


def _over(m: MemoryUse) -> str:
    return SHORT_COLOR if m.ratio is not None and m.ratio > 1 else OK_COLOR


def memory_png(memory: Sequence[MemoryUse]) -> bytes:
    """Each GPU's peak memory against what the plan said it holds; above plan in red."""
    figure = Figure(figsize=(max(6.4, min(12.0, 0.5 * len(memory))), 4.0))
    ax = figure.add_subplot()
    known = [m for m in memory if m.planned_mb is not None and m.peak_mb is not None]
    over = [m for m in known if m.ratio is not None and m.ratio > 1]
    colors = [_over(m) for m in known]
    if len(known) <= LABELLED_MAX:
        xs = range(len(known))
        ax.bar(
            [x - 0.2 for x in xs], [m.planned_mb for m in known], width=0.4, color="#bbbbbb", label="planned"
        )
        ax.bar(
            [x + 0.2 for x in xs], [m.peak_mb for m in known], width=0.4, color=colors, label="peak measured"
        )
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"GPU {m.gpu}" for m in known], fontsize=7, rotation=45, ha="right")
        ax.set_ylabel("memory (MB)")
    else:  # one dot per GPU: its peak / planned, sorted; the plan is the line at 1
        ranked = sorted(known, key=lambda m: m.ratio)  # type: ignore[arg-type, return-value]
        ax.scatter(range(len(ranked)), [m.ratio for m in ranked], s=6, color=[_over(m) for m in ranked])
        ax.axhline(1.0, color="gray", linewidth=1, label="as planned")
        ax.set_xlabel(f"{len(known):,} GPUs, sorted by peak / planned")
        ax.set_ylabel("peak / planned memory")
    left_out = len(memory) - len(known)
    title = f"memory: {len(over):,} of {len(known):,} GPUs above plan (red)"
    ax.set_title(title + (f"; {left_out:,} not measured" if left_out else ""), fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return png(figure)
