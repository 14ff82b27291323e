"""What the generalized planner is asked: GPU types, throughput targets, placement rules, the goal.

``gpupack plan`` without ``--choose-points``, ``--targets``, ``--gpus``, ``--fleet`` or a rule runs the
blog's planner (``packer.planner``); any of them switches to the generalized one (``fleet_planner``),
whose inputs are these types. Units: memory in MB, throughput in infer/s, latency in ms, cost in any
currency per GPU-hour, percentages 0-100 of one GPU.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, replace

from profiler.errors import InputError
from profiler.schema import Profile

DEFAULT_TYPE = "default"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class Goal(str, enum.Enum):
    """The primary objective; every goal has a tie-break (``fleet_model`` stage 2)."""

    MIN_GPUS = "min-gpus"  # then: highest min target fraction, or highest total throughput
    MIN_COST = "min-cost"  # same tie-breaks
    MAX_THROUGHPUT = "max-throughput"  # on a budget of GPUs; then: lowest cost
    MAX_TARGET_FRACTION = "max-target-fraction"  # on a budget, with targets; then: lowest cost

    @property
    def minimizes(self) -> bool:
        """True for the goals that minimize GPUs or cost."""
        return self in (Goal.MIN_GPUS, Goal.MIN_COST)


@dataclass(frozen=True)
class GpuType:
    """One kind of GPU: memory, how many are available and cost per hour (``None``: unlimited, unknown)."""

    name: str
    memory_mb: float
    profile: Profile
    count: int | None = None
    cost_per_hour: float | None = None

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


@dataclass(frozen=True)
class Target:
    """A model's required throughput (infer/s, summed over its replicas) and optional p99 bound (ms)."""

    model: str
    throughput: float
    max_latency_p99_ms: float | None = None

    def __post_init__(self) -> None:
        if not (self.throughput > 0 and math.isfinite(self.throughput)):
            raise InputError(f"target of model {self.model!r}: throughput must be above 0 infer/s")
        if self.max_latency_p99_ms is not None and not self.max_latency_p99_ms > 0:
            raise InputError(f"target of model {self.model!r}: max_latency_p99_ms must be above 0 ms")


def _groups(groups: tuple[tuple[str, ...], ...], what: str) -> None:
    for group in groups:
        if len(set(group)) < 2:
            raise InputError(f"{what} {','.join(group)!r}: name at least two different models")


@dataclass(frozen=True)
class Rules:
    """Placement rules. ``None`` scalars mean "not given" (no limit, no headroom) so layers can merge.

    ``pins``: (model, GPU type) pairs; ``apart``: groups of models no two of which share a GPU;
    ``together``: groups whose members always share GPUs (every GPU running one runs all);
    ``max_models_per_gpu``: at most K models per GPU; ``headroom_pct``: keep this % of every packed
    resource of every GPU free (usage ≤ min(threshold, 100 − headroom) %).
    """

    pins: tuple[tuple[str, str], ...] = ()
    apart: tuple[tuple[str, ...], ...] = ()
    together: tuple[tuple[str, ...], ...] = ()
    max_models_per_gpu: int | None = None
    headroom_pct: float | None = None

    def __post_init__(self) -> None:
        _groups(self.apart, "apart")
        _groups(self.together, "together")
        pinned: dict[str, str] = {}
        for model, gpu_type in self.pins:
            if pinned.setdefault(model, gpu_type) != gpu_type:
                raise InputError(f"model {model!r} is pinned to both {pinned[model]!r} and {gpu_type!r}")
        if self.max_models_per_gpu is not None and self.max_models_per_gpu < 1:
            raise InputError(f"max_models_per_gpu must be at least 1, got {self.max_models_per_gpu}")
        if self.headroom_pct is not None and not 0 <= self.headroom_pct < 100:
            raise InputError(f"headroom_pct must be at least 0 and below 100, got {self.headroom_pct:g}")

    @property
    def empty(self) -> bool:
        """True when no rule is set."""
        return self == NO_RULES

    @property
    def pin_of(self) -> dict[str, str]:
        """Model → the GPU type it is pinned to."""
        return dict(self.pins)

    @property
    def apart_pairs(self) -> tuple[tuple[str, str], ...]:
        """Every pair of models that may not share a GPU, each once, sorted."""
        pairs = {tuple(sorted((a, b))) for g in self.apart for a in g for b in g if a != b}
        return tuple(sorted(pairs))

    def merged(self, later: Rules) -> Rules:
        """These rules, then ``later``'s: lists are joined, scalars given in ``later`` win."""
        return replace(
            self,
            pins=self.pins + tuple(p for p in later.pins if p not in self.pins),
            apart=self.apart + later.apart,
            together=self.together + later.together,
            max_models_per_gpu=(
                self.max_models_per_gpu if later.max_models_per_gpu is None else later.max_models_per_gpu
            ),
            headroom_pct=self.headroom_pct if later.headroom_pct is None else later.headroom_pct,
        )


NO_RULES = Rules()


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
