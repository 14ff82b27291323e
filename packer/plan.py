"""The plan: which model runs on which GPU, with per-GPU totals; its JSON form is a public interface."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from packer.resources import streaming_memory_mb
from packer.settings import Goal, Objective
from profiler import ProfilePoint, versioned


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _point_dict(p: ProfilePoint) -> dict:
    """The profiled point a replica runs at, as in the plan JSON."""
    return {
        "batch_size": p.batch_size,
        "concurrency": p.concurrency,
        "instance_count": p.instance_count,
        "variant": p.variant,
        "request_rate": p.request_rate,
        "dynamic_batching": p.dynamic_batching,
        "max_queue_delay_us": p.max_queue_delay_us,
        "max_batch_size": p.max_batch_size,
        "throughput": p.throughput,
        "latency_p99_ms": p.latency_p99_ms,
    }


def expected_dict(p: ProfilePoint, ratio: float, predicted: bool) -> dict:
    """A point's expected throughput beside its partners and the predicted ratio (none when alone)."""
    if not predicted:
        return {}
    return {
        "colocation_ratio": round(ratio, 4),
        "expected_throughput": _rounded((p.throughput or 0.0) * ratio),
    }


@dataclass(frozen=True)
class MigSlice:
    """One MIG instance of a sliced GPU: its profile, first memory slice, and the models it runs.

    ``memory_mb`` counts its own server once; ``gpu_util_pct`` is of the slice (the models' whole-GPU
    utilization × 7/g), ``None`` when no placed point measured it.
    """

    profile: str
    start: int
    points: tuple[ProfilePoint, ...]
    memory_mb: float
    gpu_util_pct: float | None

    def to_dict(self) -> dict:
        """The slice as in the plan JSON's ``gpus[].mig``."""
        return {
            "profile": self.profile,
            "start": self.start,
            "models": [p.model for p in self.points],
            "memory_mb": round(self.memory_mb, 3),
            "gpu_util_pct": _rounded(self.gpu_util_pct),
        }


@dataclass(frozen=True)
class Gpu:
    """One GPU of the plan and the profiled points of the models placed on it.

    Totals count the server once: ``server + sum(model - server)``, as the blog's Tables 3 and 4 do.
    A utilization no placed point measured is ``None`` (unknown, not 0).
    """

    index: int
    points: tuple[ProfilePoint, ...]
    memory_mb: float
    gpu_util_pct: float | None
    mem_util_pct: float | None
    gpu_type: str
    cost_per_hour: float | None
    gpu_memory_mb: float
    product_label: str | None
    # The MIG layout of a sliced GPU, by start; ``None``: the GPU runs whole (one server).
    mig: tuple[MigSlice, ...] | None = None
    # Per point, its predicted measured / profiled throughput beside the others (``packer.colocation``);
    # empty: each runs as profiled (alone, or no prediction).
    ratios: tuple[float, ...] = ()

    def ratio(self, k: int) -> float:
        """The predicted ratio of the ``k``-th point (1 without a prediction)."""
        return self.ratios[k] if self.ratios else 1.0

    @property
    def throughput(self) -> float:
        """Sum of what the placed points are expected to serve, infer/s (profiled × predicted ratio)."""
        return sum((p.throughput or 0.0) * self.ratio(k) for k, p in enumerate(self.points))

    def to_dict(self) -> dict:
        """The GPU as in the plan JSON."""
        return {
            "index": self.index,
            "memory_mb": round(self.memory_mb, 3),
            "gpu_util_pct": _rounded(self.gpu_util_pct),
            "mem_util_pct": _rounded(self.mem_util_pct),
            "type": self.gpu_type,
            "gpu_memory_mb": self.gpu_memory_mb,
            "cost_per_hour": self.cost_per_hour,
            "product_label": self.product_label,
            "models": [
                {"name": p.model}
                | _point_dict(p)
                | {"memory_mb": p.memory_mb, "gpu_util_pct": p.gpu_util_pct, "mem_util_pct": p.mem_util_pct}
                | self._share_dict(p)
                | expected_dict(p, self.ratio(k), bool(self.ratios))
                for k, p in enumerate(self.points)
            ],
        } | ({} if self.mig is None else {"mig": [s.to_dict() for s in self.mig]})

    def _share_dict(self, p: ProfilePoint) -> dict:
        """A streaming model's memory share and token figures (none for a classic model)."""
        share = streaming_memory_mb(p)
        if share is None:
            return {}
        return {
            "memory_share_mb": round(share, 3),
            "memory_share_fraction": round(share / self.gpu_memory_mb, 6),
            "tokens_per_s": p.tokens_per_s,
            "ttft_p99_ms": p.ttft_p99_ms,
            "itl_p99_ms": p.itl_p99_ms,
            "input_tokens": p.input_tokens,
            "output_tokens": p.output_tokens,
        }


@dataclass(frozen=True)
class ModelPlan:
    """One model of a plan: its replicas (GPU index, chosen point) and its target, if any."""

    model: str
    replicas: tuple[tuple[int, ProfilePoint], ...]
    target: float | None
    max_latency_p99_ms: float | None
    # A streaming (LLM) model's target may be in output tokens/s, with TTFT and ITL p99 bounds.
    target_unit: str = "infer/s"
    max_ttft_p99_ms: float | None = None
    max_itl_p99_ms: float | None = None
    # Per replica, its predicted ratio beside the models of its GPU (``Gpu.ratios``); empty: all 1.
    ratios: tuple[float, ...] = ()

    def ratio(self, k: int) -> float:
        """The predicted ratio of the ``k``-th replica (1 without a prediction)."""
        return self.ratios[k] if self.ratios else 1.0

    @property
    def throughput(self) -> float:
        """Sum of what the replicas are expected to serve, infer/s (profiled × predicted ratio)."""
        return sum((p.throughput or 0.0) * self.ratio(k) for k, (_, p) in enumerate(self.replicas))

    @property
    def tokens_per_s(self) -> float | None:
        """Sum of the replicas' output tokens/s (streaming models), ``None`` for a classic model."""
        values = [p.tokens_per_s for _, p in self.replicas]
        if any(v is None for v in values) or not values:
            return None
        return sum(v * self.ratio(k) for k, v in enumerate(values))

    @property
    def served(self) -> float:
        """What the replicas serve in the target's unit."""
        return (self.tokens_per_s or 0.0) if self.target_unit == "tokens/s" else self.throughput

    @property
    def target_fraction(self) -> float | None:
        """Served rate over the target (1.0 = met exactly), ``None`` without a target."""
        return None if self.target is None else self.served / self.target

    def to_dict(self) -> dict:
        """The model as in the plan JSON's ``models`` list."""
        return {
            "name": self.model,
            "replicas": len(self.replicas),
            "throughput": round(self.throughput, 6),
            "target": self.target,
            "target_fraction": None if self.target is None else round(self.target_fraction, 6),
            "max_latency_p99_ms": self.max_latency_p99_ms,
            "points": [
                {"gpu": gpu} | _point_dict(p) | expected_dict(p, self.ratio(k), self.ratio(k) < 1)
                for k, (gpu, p) in enumerate(self.replicas)
            ],
        } | self._streaming_dict()

    def _streaming_dict(self) -> dict:
        """A streaming model's keys (none for a classic model, so its JSON is as before)."""
        if self.tokens_per_s is None and self.target_unit == "infer/s":
            return {}
        return {
            "target_unit": self.target_unit,
            "tokens_per_s": None if self.tokens_per_s is None else round(self.tokens_per_s, 6),
            "max_ttft_p99_ms": self.max_ttft_p99_ms,
            "max_itl_p99_ms": self.max_itl_p99_ms,
        }


@dataclass(frozen=True)
class Plan:
    """A placement of every model, with its goal's value, proven bound and proof status.

    ``optimal`` is true when the value meets the bound. ``lower_bound`` is a lower bound on the GPU
    count; ``ffd_gpu_count`` is first-fit decreasing's count, for comparison (0: it found none).
    ``objective_value`` and ``objective_bound`` are in the goal's units: GPUs, cost per hour,
    infer/s or target fraction. ``gpu_memory_mb`` and ``server_memory_mb`` are the first GPU type's.
    ``limits_pct`` names the packed resources (``resources.Resource.name``) and their limits.
    ``stopped_by_time_limit``: the wall-clock time limit cut the search before its work budget was
    spent (``packer.work``), so a rerun may give another plan; otherwise the plan is a function of
    the input and options.
    """

    objective: Objective
    goal: Goal
    gpus: tuple[Gpu, ...]
    models: tuple[ModelPlan, ...]
    lower_bound: int
    optimal: bool
    objective_value: float
    objective_bound: float
    solve_seconds: float
    solver_status: str
    ffd_gpu_count: int
    total_cost_per_hour: float | None
    gpu_budget: int | None
    gpu_memory_mb: float
    server_memory_mb: float
    notes: tuple[str, ...]
    # Packed resource name → the % of a GPU's capacity all models and the server may use.
    limits_pct: Mapping[str, float] = field(default_factory=dict)
    # The options the plan was made with, as ``--config`` reads them back (``profiler.base.cli_config``).
    settings: Mapping[str, object] = field(default_factory=dict)
    stopped_by_time_limit: bool = False

    def __post_init__(self) -> None:
        if self.lower_bound > len(self.gpus):
            raise ValueError(f"lower bound {self.lower_bound} above the plan's {len(self.gpus)} GPUs")

    @property
    def gpu_count(self) -> int:
        """GPUs the plan uses."""
        return len(self.gpus)

    @property
    def gap(self) -> int:
        """GPUs above the lower bound (0 when optimal)."""
        return 0 if self.optimal else self.gpu_count - self.lower_bound

    @property
    def objective_gap(self) -> float:
        """Distance from the goal's value to its proven bound (0 when optimal)."""
        return 0.0 if self.optimal else abs(self.objective_value - self.objective_bound)

    @property
    def min_target_fraction(self) -> float | None:
        """The lowest served/target over the models with a target, ``None`` without targets."""
        fractions = [m.target_fraction for m in self.models if m.target is not None]
        return min(fractions) if fractions else None

    def to_dict(self) -> dict:
        """The plan JSON (names documented in the README; scripts rely on them), ``schema_version`` first."""
        gap = self.objective_gap
        return versioned(
            {
                "objective": self.objective.value,
                "gpu_count": self.gpu_count,
                "lower_bound": self.lower_bound,
                "optimal": self.optimal,
                "gap": self.gap,
                "solve_seconds": round(self.solve_seconds, 4),
                "solver_status": self.solver_status,
                "ffd_gpu_count": self.ffd_gpu_count,
                "gpu_memory_mb": self.gpu_memory_mb,
                "server_memory_mb": self.server_memory_mb,
                "notes": list(self.notes),
                "stopped_by_time_limit": self.stopped_by_time_limit,
                "goal": self.goal.value,
                "objective_value": self.objective_value,
                "objective_bound": self.objective_bound,
                "objective_gap": gap,
                "objective_gap_pct": round(100 * gap / max(abs(self.objective_value), 1e-9), 4),
                "total_cost_per_hour": self.total_cost_per_hour,
                "gpu_budget": self.gpu_budget,
                "min_target_fraction": self.min_target_fraction,
                "models": [m.to_dict() for m in self.models],
                "gpus": [g.to_dict() for g in self.gpus],
                "limits_pct": dict(self.limits_pct),
                "settings": dict(self.settings),
            }
        )

    def to_json(self) -> str:
        """``to_dict`` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"
