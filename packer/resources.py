"""The packed resources, the one per-GPU limit formula, and the solver's integer units.

Memory model (the blog's): a GPU running models M holds ``server + Σ_M (model − server)``. Every
profiled value includes the server, so a model's own demand is its profiled value minus the
server's (``own_demand``), and a GPU's room for models is ``limit − server`` with

    limit = capacity × min(threshold, 100 − headroom) / 100

where capacity is the GPU's usable memory in MB (its memory less what the driver reserves,
``GpuType.usable_memory_mb``), or 100 % for a utilization. Every layer (problem, check, report)
computes a limit through ``limit`` here and nowhere else. A utilization a profile does not measure
is absent, not zero (``measured``, ``split_absent``).

A streaming (LLM) model's memory is not one number per point: it holds its weights, plus its KV cache
for each sequence in flight (``streaming_memory_mb``: ``weights_mb + kv_mb_per_sequence × sequences``,
both measured without the server, at the profile's token lengths, so context is in the per-sequence
figure). ``point_demand`` is the one place a point's own demand is read, for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packer.settings import Thresholds
from profiler import Profile, ProfilePoint

if TYPE_CHECKING:
    from packer.inputs import GpuType

# Demands and capacities go to CP-SAT as integers in hundredths (0.01 MB, 0.01 %, 0.01 infer/s):
# demands are rounded up and capacities down, so an integer-feasible plan is feasible in the real
# numbers too.
UNITS = 100


@dataclass(frozen=True)
class Resource:
    """One packed resource: how to read it off a point, its profile column and unit."""

    name: str
    attr: str
    column: str
    unit: str

    @property
    def is_memory(self) -> bool:
        """True for GPU (or, on a CPU host, host) memory; false for the utilizations."""
        return self.unit == "MB"


MEMORY = Resource("GPU memory", "memory_mb", "max_gpu_memory_mb", "MB")
GPU_UTIL = Resource("GPU utilization", "gpu_util_pct", "max_gpu_utilization_pct", "%")
MEM_UTIL = Resource("memory-controller utilization", "mem_util_pct", "max_memory_utilization_pct", "%")
HOST_MEMORY = Resource("host memory", "host_memory_mb", "max_host_memory_mb", "MB")


def packed_resources(cpu_only: bool, utilization: bool) -> tuple[Resource, ...]:
    """Memory (host memory for profiles measured without a GPU), plus both utilizations if asked."""
    memory = HOST_MEMORY if cpu_only else MEMORY
    return (memory, GPU_UTIL, MEM_UTIL) if utilization else (memory,)


def measured(resource: Resource, profile: Profile) -> bool:
    """True when some measured point of ``profile`` has a value for ``resource``."""
    return any(getattr(p, resource.attr) is not None for p in profile.points if p.ok)


def limit_pct(resource: Resource, thresholds: Thresholds, headroom_pct: float | None) -> float:
    """The % of a GPU's ``resource`` that all models and the server together may use."""
    if resource.is_memory:
        pct = thresholds.max_memory_pct
    else:
        pct = thresholds.max_gpu_util_pct if resource is GPU_UTIL else thresholds.max_mem_util_pct
    return pct if headroom_pct is None else min(pct, 100 - headroom_pct)


def limit(
    resource: Resource, gpu_memory_mb: float, thresholds: Thresholds, headroom_pct: float | None
) -> float:
    """How much of ``resource`` (MB or %) one GPU may hold in all, server included."""
    capacity = gpu_memory_mb if resource.is_memory else 100.0
    return capacity * limit_pct(resource, thresholds, headroom_pct) / 100


def own_demand(
    resource: Resource, value: float, server: float, slowdown: float = 1.0, room: float = math.inf
) -> float:
    """A model's own share of ``resource``: its profiled ``value`` (server included) less the server's.

    ``slowdown`` ≥ 1 (``interference``) inflates a utilization: a model measured to run that much
    slower beside others takes that much more of the GPU's time, but never more than the ``room`` a
    GPU has for models (alone on a GPU, a model keeps its profiled throughput). Memory is never
    inflated.
    """
    own = max(0.0, value - server)
    return own if resource.is_memory else min(own * slowdown, max(own, room))


def sequences_in_flight(point: ProfilePoint) -> float:
    """The sequences a streaming point keeps in flight.

    Its concurrency, or at a request rate (open loop) Little's law with the p99 request latency
    (requests/s × seconds each, rounded up: an upper estimate).
    """
    if point.concurrency > 0:
        return float(point.concurrency)
    latency_s = (point.latency_p99_ms or 0.0) / 1000
    return math.ceil((point.throughput or 0.0) * latency_s)


def streaming_memory_mb(point: ProfilePoint) -> float | None:
    """A streaming model's own memory at ``point``: weights + KV cache × sequences in flight.

    ``None`` for a point without the memory model (a classic model, or a streaming one whose fit failed):
    its measured peak is used instead.
    """
    if point.weights_mb is None or point.kv_mb_per_sequence is None:
        return None
    return point.weights_mb + point.kv_mb_per_sequence * sequences_in_flight(point)


def point_demand(
    resource: Resource, point: ProfilePoint, server: float, slowdown: float = 1.0, room: float = math.inf
) -> float | None:
    """``point``'s own demand of ``resource``, or ``None`` when the profile lacks the value.

    ``own_demand`` of its profiled value; a streaming model's memory from its memory model instead.
    """
    if resource.is_memory:
        llm = streaming_memory_mb(point)
        if llm is not None:
            return llm
    value = getattr(point, resource.attr)
    return None if value is None else own_demand(resource, value, server, slowdown, room)


def units_up(value: float) -> int:
    """``value`` in solver units, rounded up (demands, targets)."""
    return math.ceil(value * UNITS - 1e-6)


def units_down(value: float) -> int:
    """``value`` in solver units, rounded down (capacities, throughputs)."""
    return math.floor(value * UNITS + 1e-6)


def split_absent(
    types: tuple[GpuType, ...], resources: tuple[Resource, ...]
) -> tuple[tuple[Resource, ...], tuple[frozenset[Resource], ...], list[str]]:
    """Utilizations: dropped where no type's profile measures them; per type, those its own lacks.

    Returns the resources to pack, per type the packed ones its profile does not measure (packed
    as absent there: demand and server 0), and a note for each, said once.
    """
    kept, notes = [], []
    for r in resources:
        lacking = [t for t in types if not measured(r, t.profile)]
        if r not in (GPU_UTIL, MEM_UTIL) or not lacking:
            kept.append(r)
            continue
        sources = ", ".join(dict.fromkeys(t.profile.source or "the profile" for t in lacking))
        if len(lacking) == len(types):
            notes.append(f"{r.name} is not measured in {sources}: not packed (unknown, not zero)")
        else:
            kept.append(r)
            names = ", ".join(t.name for t in lacking)
            notes.append(f"{r.name} is not measured in {sources}: not packed on GPU type {names}")
    absent = tuple(
        frozenset(r for r in kept if r in (GPU_UTIL, MEM_UTIL) and not measured(r, t.profile)) for t in types
    )
    return tuple(kept), absent, notes
