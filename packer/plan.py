"""The plan: which model runs on which GPU, with per-GPU totals; its JSON form is a public interface."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from packer.problem import Objective
from profiler.schema import ProfilePoint


@dataclass(frozen=True)
class Gpu:
    """One GPU of the plan and the profiled points of the models placed on it.

    Totals count the server once: ``server + sum(model - server)``, as the blog's Tables 3 and 4 do.
    """

    index: int
    points: tuple[ProfilePoint, ...]
    memory_mb: float
    gpu_util_pct: float
    mem_util_pct: float

    @property
    def throughput(self) -> float:
        """Sum of the placed points' throughputs, infer/s."""
        return sum(p.throughput or 0.0 for p in self.points)

    def to_dict(self) -> dict:
        """The GPU as in the plan JSON."""
        return {
            "index": self.index,
            "memory_mb": round(self.memory_mb, 3),
            "gpu_util_pct": round(self.gpu_util_pct, 3),
            "mem_util_pct": round(self.mem_util_pct, 3),
            "models": [
                {
                    "name": p.model,
                    "batch_size": p.batch_size,
                    "concurrency": p.concurrency,
                    "throughput": p.throughput,
                    "memory_mb": p.memory_mb,
                    "gpu_util_pct": p.gpu_util_pct,
                    "mem_util_pct": p.mem_util_pct,
                }
                for p in self.points
            ],
        }


@dataclass(frozen=True)
class Plan:
    """A placement of every model, with its proof status.

    ``optimal`` is true when the GPU count equals ``lower_bound`` or the solver closed the search.
    ``ffd_gpu_count`` is first-fit decreasing's count, for comparison.
    """

    objective: Objective
    gpus: tuple[Gpu, ...]
    lower_bound: int
    optimal: bool
    solve_seconds: float
    gpu_memory_mb: float
    server_memory_mb: float
    ffd_gpu_count: int
    solver_status: str
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.lower_bound > len(self.gpus):
            raise ValueError(f"lower bound {self.lower_bound} above the plan's {len(self.gpus)} GPUs")

    @property
    def gpu_count(self) -> int:
        """GPUs the plan uses."""
        return len(self.gpus)

    @property
    def gap(self) -> int:
        """GPUs above the lower bound (0 when optimal is proven by the bound)."""
        return 0 if self.optimal else self.gpu_count - self.lower_bound

    def to_dict(self) -> dict:
        """The plan JSON (names documented in the README; scripts rely on them)."""
        return {
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
            "gpus": [g.to_dict() for g in self.gpus],
        }

    def to_json(self) -> str:
        """``to_dict`` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"
