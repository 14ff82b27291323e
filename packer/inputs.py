"""What the planner is given besides thresholds and rules: GPU types, throughput targets, the fleet.

Without a fleet file there is one GPU type, ``DEFAULT_TYPE``: the profile's GPU, as many as needed.
Units: memory in MB, throughput in infer/s, latency in ms, cost in any currency per GPU-hour.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from packer.rules import NO_RULES, Rules
from profiler import InputError, Profile, ProfilePoint, read_profile

DEFAULT_TYPE = "default"
# A target's units: requests (inferences) per second, or a streaming model's output tokens per second.
INFER = "infer/s"
TOKENS = "tokens/s"
# The memory measures a point's first request at its batch size can raise (allocator growth, CUDA
# graph capture): a deployed model goes through that first request whatever its concurrency.
_FIRST_USE = ("memory_mb", "host_memory_mb")
# GPU memory measured on a real GPU (NVML, which also records the driver's reserved memory) is counted
# this much above a model's own measured share (its memory less the server's). Fresh loads of a model
# at a batch size peak at the same figure to the MB (H200, benchmarks/results/h200-2026-12-01), but
# models sharing a GPU take a little more than their profiles sum to (two ResNet-18 stubs: 2.2 MB
# over 2,649 MB planned). 1 % keeps the plan above the peak and well within 5 % of it.
MEASURED_MEMORY_MARGIN = 0.01
_LLM_MEMORY = ("weights_mb", "kv_mb_per_sequence")


def with_first_use_memory(profile: Profile) -> Profile:
    """``profile`` with each point's memory raised to the most any point of its batch size measured.

    A sweep measures a model's points in order on one server, so the first request at a batch size
    (and its allocations, e.g. a CUDA graph captured at first use) falls into one point only, often
    the one at concurrency 1; later points at that batch size start with the memory already taken
    and record less. A model deployed at any of those points goes through that first request, so
    the plan counts the largest memory measured at its model, batch size and instance count.
    """
    most: dict[tuple, dict[str, float]] = {}
    for p in profile.points:
        key = (p.model, p.batch_size, p.instance_count)
        for attr in _FIRST_USE:
            value = getattr(p, attr)
            if value is not None:
                most.setdefault(key, {})[attr] = max(value, most.get(key, {}).get(attr, value))
    points = tuple(
        _raised(p, most.get((p.model, p.batch_size, p.instance_count), {})) for p in profile.points
    )
    return replace(profile, points=points)


def _raised(point: ProfilePoint, values: dict[str, float]) -> ProfilePoint:
    """``point`` with ``values``; the same point when it has them already (most do: no copy to make)."""
    return point if all(getattr(point, k) == v for k, v in values.items()) else replace(point, **values)


def with_memory_margin(profile: Profile) -> Profile:
    """``profile`` with each model's own GPU memory raised by ``MEASURED_MEMORY_MARGIN``, if measured.

    Only profiles measured by NVML (they record the GPU's reserved memory) get it: synthetic and
    interop profiles are taken at their word.
    """
    if profile.metadata.gpu_reserved_memory_mb is None:
        return profile
    server = profile.server.memory_mb or 0.0
    points = tuple(
        p
        if p.memory_mb is None
        else replace(p, memory_mb=p.memory_mb + MEASURED_MEMORY_MARGIN * max(0.0, p.memory_mb - server))
        for p in profile.points
    )
    # A streaming model's memory model is its own memory too (``resources.streaming_memory_mb``).
    points = tuple(
        replace(p, **{a: getattr(p, a) * (1 + MEASURED_MEMORY_MARGIN) for a in _LLM_MEMORY if getattr(p, a)})
        for p in points
    )
    return replace(profile, points=points)


def read_plan_profile(path: str | Path) -> Profile:
    """A profile as the planner counts it: read, then ``with_first_use_memory``, ``with_memory_margin``."""
    return with_memory_margin(with_first_use_memory(read_profile(path)))


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class GpuType:
    """One kind of GPU: memory, how many are available and cost per hour (``None``: unlimited, unknown)."""

    name: str
    memory_mb: float
    profile: Profile
    count: int | None = None
    cost_per_hour: float | None = None
    # The node label value Kubernetes' GPU feature discovery gives this GPU (nvidia.com/gpu.product).
    product_label: str | None = None
    # The MIG product whose slices this type's GPUs may be cut into (``packer.mig.products``), if any.
    mig: str | None = None

    @property
    def usable_memory_mb(self) -> float:
        """Memory models and server may use: the GPU's less what its driver reserves (NVML v2).

        A profile measured with NVML v2 records the reserved part once (``gpu_reserved_memory_mb``) and
        leaves it out of every point's memory, as nvidia-smi's memory.used does; it is never available to
        models, so it comes off each GPU's capacity here, once.
        """
        return self.memory_mb - (self.profile.metadata.gpu_reserved_memory_mb or 0.0)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise InputError(f"GPU type name {self.name!r}: use letters, digits, '.', '_' and '-'")
        if not self.memory_mb > 0:
            raise InputError(f"GPU type {self.name!r}: memory must be above 0 MB")
        if self.count is not None and self.count < 1:
            raise InputError(f"GPU type {self.name!r}: count must be at least 1, got {self.count}")
        if self.cost_per_hour is not None and not (
            self.cost_per_hour > 0 and math.isfinite(self.cost_per_hour)
        ):
            raise InputError(f"GPU type {self.name!r}: cost_per_hour must be above 0")
        if self.mig is not None:
            from packer.mig.products import mig_product

            product = mig_product(self.mig)
            if self.memory_mb < product.profiles[-1].memory_mb:
                raise InputError(
                    f"GPU type {self.name!r}: memory {self.memory_mb:g} MB is less than its MIG product "
                    f"{product.name}'s {product.profiles[-1].memory_mb:g} MB",
                    f"give the type memory: {product.memory_gb}GB",
                )


@dataclass(frozen=True)
class Target:
    """A model's required rate, summed over its replicas, and optional p99 bounds (ms).

    The rate is requests/s (``unit`` ``INFER``, the profile's ``throughput``) or, for a streaming (LLM)
    model, output tokens/s (``unit`` ``TOKENS``, the profile's ``tokens_per_s``). A streaming model may
    also bound its time to first token and inter-token latency at p99.
    """

    model: str
    throughput: float
    max_latency_p99_ms: float | None = None
    unit: str = "infer/s"
    max_ttft_p99_ms: float | None = None
    max_itl_p99_ms: float | None = None

    def __post_init__(self) -> None:
        if self.unit not in (INFER, TOKENS):
            raise InputError(f"target of model {self.model!r}: unit {self.unit!r} is not {INFER} or {TOKENS}")
        if not (self.throughput > 0 and math.isfinite(self.throughput)):
            raise InputError(f"target of model {self.model!r}: throughput must be above 0 {self.unit}")
        for name in ("max_latency_p99_ms", "max_ttft_p99_ms", "max_itl_p99_ms"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InputError(f"target of model {self.model!r}: {name} must be above 0 ms")

    def rate(self, point: ProfilePoint) -> float:
        """What one replica at ``point`` serves toward this target, in ``unit``."""
        value = point.tokens_per_s if self.unit == TOKENS else point.throughput
        return value or 0.0

    def bounds(self) -> tuple[tuple[str, str, float], ...]:
        """The p99 bounds set: (profile attribute, name in messages, ms)."""
        named = (
            ("latency_p99_ms", "p99", self.max_latency_p99_ms),
            ("ttft_p99_ms", "TTFT p99", self.max_ttft_p99_ms),
            ("itl_p99_ms", "ITL p99", self.max_itl_p99_ms),
        )
        return tuple((attr, name, bound) for attr, name, bound in named if bound is not None)


@dataclass(frozen=True)
class Fleet:
    """GPU types (in file order) and the rules the fleet file sets."""

    types: tuple[GpuType, ...]
    rules: Rules = NO_RULES
    source: str = ""

    def __post_init__(self) -> None:
        if not self.types:
            raise InputError(f"{self.source or 'fleet'}: no GPU types")
        names = [t.name for t in self.types]
        for name in names:
            if names.count(name) > 1:
                raise InputError(f"{self.source or 'fleet'}: GPU type {name!r} is listed twice")
