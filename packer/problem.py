"""From a profile and the user's thresholds to a packing problem: items, resources, capacities.

Memory model (the blog's): a GPU running models M holds ``server + sum over M of (model - server)``;
each profiled ``max_gpu_memory_mb`` includes the server, so a model's own demand is its profiled
memory minus the server's, and a GPU's room for models is ``gpu_memory * max_memory% - server``.
Utilizations work the same way (the server's are usually 0): a GPU's room is ``threshold% - server``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

from packer.bounds import vector_lower_bound
from profiler.errors import InputError
from profiler.schema import Profile, ProfilePoint

# Demands and capacities go to CP-SAT as integers in hundredths (0.01 MB, 0.01 %): demands are
# rounded up and capacities down, so an integer-feasible plan is feasible in the real numbers too.
SCALE = 100


class Objective(str, enum.Enum):
    """What the plan optimizes (both minimize GPUs; they differ in the resources packed)."""

    MIN_GPUS = "min-gpus"
    THROUGHPUT = "throughput"


@dataclass(frozen=True)
class Resource:
    """One packed resource: how to read it off a point, its threshold and unit."""

    name: str
    attr: str
    column: str
    unit: str


MEMORY = Resource("GPU memory", "memory_mb", "max_gpu_memory_mb", "MB")
GPU_UTIL = Resource("GPU utilization", "gpu_util_pct", "max_gpu_utilization_pct", "%")
MEM_UTIL = Resource("memory-controller utilization", "mem_util_pct", "max_memory_utilization_pct", "%")
HOST_MEMORY = Resource("host memory", "host_memory_mb", "max_host_memory_mb", "MB")


@dataclass(frozen=True)
class Thresholds:
    """Per-GPU limits, percent of capacity; above 100 oversubscribes (the blog allows it)."""

    max_memory_pct: float = 100.0
    max_gpu_util_pct: float = 100.0
    max_mem_util_pct: float = 100.0

    def __post_init__(self) -> None:
        for name in ("max_memory_pct", "max_gpu_util_pct", "max_mem_util_pct"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name.replace('_pct', '').replace('_', '-')} must be above 0 %")


@dataclass(frozen=True)
class SolverSettings:
    """Passed through to CP-SAT. ``num_workers`` 0 means all cores; ``debug`` prints the search log."""

    max_time_in_seconds: float = 10.0
    num_workers: int = 0
    random_seed: int = 0
    debug: bool = False


@dataclass(frozen=True)
class Selection:
    """Which profiled point each model uses; ``None`` fields do not filter."""

    batch_size: int | None = None
    concurrency: int | None = None


@dataclass(frozen=True)
class Item:
    """One model to place: its chosen point and its own demand per resource (server removed)."""

    point: ProfilePoint
    demand: tuple[float, ...]

    @property
    def name(self) -> str:
        """The model's name."""
        return self.point.model


@dataclass(frozen=True)
class Problem:
    """A vector bin-packing problem: identical GPUs with ``capacity`` per resource, one item per model."""

    objective: Objective
    resources: tuple[Resource, ...]
    capacity: tuple[float, ...]
    items: tuple[Item, ...]
    gpu_memory_mb: float
    server_memory_mb: float
    server_load: tuple[float, ...]
    thresholds: Thresholds

    def scaled(self) -> tuple[list[list[int]], list[int]]:
        """Integer demands (rounded up) and capacities (rounded down), in 1/SCALE units."""
        demands = [[math.ceil(d * SCALE - 1e-6) for d in item.demand] for item in self.items]
        capacity = [math.floor(c * SCALE + 1e-6) for c in self.capacity]
        return demands, capacity

    def lower_bound(self) -> int:
        """Martello–Toth L2 per resource (``bounds.vector_lower_bound``), at least 1 with models.

        L2 includes the ceiling of total demand over capacity (counting the server once per GPU)
        and the number of models each needing more than half a GPU of one resource.
        """
        demands, capacity = self.scaled()
        return max(1 if self.items else 0, vector_lower_bound(demands, capacity))


def _resources(objective: Objective, profile: Profile) -> tuple[Resource, ...]:
    memory = HOST_MEMORY if profile.metadata.device == "cpu" else MEMORY
    if objective is Objective.MIN_GPUS:
        return (memory,)
    return (memory, GPU_UTIL, MEM_UTIL)


def _capacity(resource: Resource, gpu_memory_mb: float, thresholds: Thresholds) -> float:
    if resource in (MEMORY, HOST_MEMORY):
        return gpu_memory_mb * thresholds.max_memory_pct / 100
    if resource is GPU_UTIL:
        return thresholds.max_gpu_util_pct
    return thresholds.max_mem_util_pct


def _value(point: ProfilePoint, resource: Resource, source: str) -> float:
    value = getattr(point, resource.attr)
    if value is None:
        raise InputError(
            f"{source}: model {point.model!r} (batch {point.batch_size}, concurrency {point.concurrency}) "
            f"has no {resource.column}, needed to pack {resource.name}",
            "profile on a GPU, or use --objective min-gpus (GPU memory only)"
            if resource.unit == "%"
            else None,
        )
    return value


def _fits(
    point: ProfilePoint, resources: tuple[Resource, ...], room: tuple[float, ...], server: tuple
) -> bool:
    return all(
        getattr(point, r.attr) is None or getattr(point, r.attr) - s <= c
        for r, c, s in zip(resources, room, server, strict=True)
    )


def select_point(
    profile: Profile,
    model: str,
    selection: Selection,
    fits: Callable[[ProfilePoint], bool],
) -> ProfilePoint:
    """The point ``model`` uses: the one ``selection`` names, else the marked one, else the fastest fit."""
    points = [p for p in profile.points_for(model) if p.ok]
    candidates = [
        p
        for p in points
        if selection.batch_size in (None, p.batch_size) and selection.concurrency in (None, p.concurrency)
    ]
    wanted = f"batch {selection.batch_size or 'any'}, concurrency {selection.concurrency or 'any'}"
    if not candidates:
        have = ", ".join(f"b{p.batch_size}/c{p.concurrency}" for p in points) or "no measured points"
        raise InputError(f"{profile.source}: model {model!r} has no profiled point at {wanted} (has {have})")
    marked = [p for p in candidates if p.selected]
    if len(marked) > 1:
        raise InputError(
            f"{profile.source}: model {model!r} has {len(marked)} rows marked selected at {wanted}"
        )
    if marked:
        return marked[0]
    keys = [p.key for p in candidates]
    if len(set(keys)) < len(keys):
        raise InputError(
            f"{profile.source}: model {model!r} has duplicate rows for the same batch/concurrency/instances",
            "remove the duplicates, or mark the one to use with selected=true",
        )
    fitting = [p for p in candidates if fits(p)] or candidates
    return max(fitting, key=lambda p: (p.throughput, -p.batch_size, -p.concurrency, -p.instance_count))


def build_problem(
    profile: Profile,
    objective: Objective,
    gpu_memory_mb: float,
    thresholds: Thresholds,
    selection: Selection = Selection(),
) -> Problem:
    """Pick one point per model and turn it into demands against per-GPU capacities.

    Raises ``InputError`` naming the model and resource when a model cannot fit on an empty GPU.
    """
    resources = _resources(objective, profile)
    server = tuple(getattr(profile.server, r.attr) or 0.0 for r in resources)
    room = tuple(_capacity(r, gpu_memory_mb, thresholds) - s for r, s in zip(resources, server, strict=True))
    for r, c in zip(resources, room, strict=True):
        if c <= 0:
            raise InputError(f"the server alone uses all the {r.name} allowed on a GPU (threshold too low?)")
    items = []
    for model in profile.models():
        point = select_point(profile, model, selection, lambda p: _fits(p, resources, room, server))
        values = tuple(_value(point, r, profile.source) for r in resources)
        demand = tuple(max(0.0, v - s) for v, s in zip(values, server, strict=True))
        for r, d, c, s in zip(resources, demand, room, server, strict=True):
            if d > c + 1e-9:
                raise InputError(
                    f"model {model!r} needs {d + s:g} {r.unit} of {r.name} (server included), "
                    f"more than the {c + s:g} {r.unit} a GPU allows",
                    "use a bigger GPU (--gpu-memory), a higher threshold, or a smaller batch/concurrency",
                )
        items.append(Item(point=point, demand=demand))
    if not items:
        raise InputError(f"{profile.source}: every point has an error; nothing to plan")
    return Problem(
        objective=objective,
        resources=resources,
        capacity=room,
        items=tuple(items),
        gpu_memory_mb=gpu_memory_mb,
        server_memory_mb=server[0],
        server_load=server,
        thresholds=thresholds,
    )
