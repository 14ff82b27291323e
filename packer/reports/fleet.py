"""The numbers behind the fleet overview: how full every GPU of the plan is, in one figure at any size.

A figure per GPU reads well for a few GPUs and not at all for a thousand, so the report always draws
one overview of the whole fleet (every GPU's fill of each packed resource, sorted, and their
histograms) and draws per-GPU figures only up to ``PER_GPU_FIGURES_MAX`` GPUs. Fills come from the
plan's own totals (server included), in % of the GPU: memory as % of the GPU's memory, utilizations
as they are; ``None`` where nothing on the GPU measured the resource.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from packer.resources import GPU_UTIL, MEM_UTIL, Resource

# Above this many GPUs the report leaves per-GPU figures out: 32 figures already make a page of
# ~10 screens, and the overview shows every GPU anyway (a thousand figures took 165 s and 71 MB).
PER_GPU_FIGURES_MAX = 32


@dataclass(frozen=True)
class FleetFill:
    """One resource over the fleet: each GPU's fill in plan order, % of the GPU, and the plan's limit."""

    resource: str
    limit_pct: float | None  # None: the plan did not pack this resource
    fill_pct: tuple[float | None, ...]


@dataclass(frozen=True)
class FleetFigure:
    """Every GPU of the plan: its index, how many models it runs, how full it is per resource."""

    gpus: tuple[int, ...]
    types: tuple[tuple[str, int], ...]  # each GPU type of the plan and how many GPUs of it
    models_per_gpu: tuple[int, ...]
    fills: tuple[FleetFill, ...]

    @property
    def per_gpu_figures(self) -> bool:
        """True when the fleet is small enough to draw a figure per GPU too."""
        return len(self.gpus) <= PER_GPU_FIGURES_MAX


def _fill(gpu: Mapping, resource: Resource) -> float | None:
    if resource.is_memory:
        capacity = gpu["gpu_memory_mb"]
        return 100 * gpu["memory_mb"] / capacity if capacity else None
    return gpu.get(resource.attr)


def fleet_figure(plan: Mapping, memory: Resource) -> FleetFigure:
    """The overview of ``plan``'s GPUs; ``memory`` is the memory resource the plan packed."""
    gpus = plan["gpus"]
    limits = plan.get("limits_pct") or {}
    fills = tuple(
        FleetFill(r.name, limits.get(r.name), tuple(_fill(g, r) for g in gpus))
        for r in (memory, GPU_UTIL, MEM_UTIL)
    )
    types = tuple(Counter(g["type"] for g in gpus).items())
    return FleetFigure(
        gpus=tuple(g["index"] for g in gpus),
        types=types,
        models_per_gpu=tuple(len(g["models"]) for g in gpus),
        fills=fills,
    )


def left_out_line(figure: FleetFigure) -> str:
    """What the report says where it leaves the per-GPU figures out, and why."""
    return (
        f"per-GPU figures left out: {len(figure.gpus):,} GPUs, more than {PER_GPU_FIGURES_MAX}; the fleet "
        "overview shows every GPU (its numbers, GPU by GPU, are in figures.json)"
    )
