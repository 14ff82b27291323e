"""Small hand-checkable instances for the generalized planner's tests, and a solve-and-check helper.

Two models on a 1000 MB GPU whose server takes 100 MB, so 900 MB of room for models:

    model  point  memory (own)  throughput  p99
    A      b1c1   400 (300)     10          50 ms
    A      b4c8   700 (600)     30          200 ms
    B      b1c1   400 (300)     5           40 ms
    B      b4c8   700 (600)     20          150 ms

Utilizations are 10 % per point, so only memory binds unless a test says otherwise.
"""

from __future__ import annotations

from pathlib import Path

from packer.check import check_plan
from packer.inputs import GpuType, Target
from packer.plan import Plan
from packer.planner import plan as plan_problem
from packer.problem import Problem, build_problem
from packer.rules import Rules
from packer.settings import Goal, Objective, SolverSettings, Thresholds
from profiler.profiles.profile_io import read_profile, write_profile
from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint, ServerBaseline

SETTINGS = SolverSettings(max_time_in_seconds=5.0, num_workers=2)


def point(model: str, batch: int, memory: float, throughput: float, p99: float | None = None, util=10.0):
    return ProfilePoint(
        model=model,
        batch_size=batch,
        concurrency=2 * batch if batch > 1 else 1,
        throughput=throughput,
        latency_p99_ms=p99,
        gpu_util_pct=util,
        mem_util_pct=util,
        memory_mb=memory,
    )


def ab_points(speed: float = 1.0, models: tuple[str, ...] = ("A", "B")) -> list[ProfilePoint]:
    table = {
        "A": [(1, 400, 10, 50), (4, 700, 30, 200)],
        "B": [(1, 400, 5, 40), (4, 700, 20, 150)],
    }
    return [point(m, b, mem, tp * speed, p99) for m in models for b, mem, tp, p99 in table[m]]


def write(
    directory: Path, points: list[ProfilePoint], gpu_memory_mb: float = 1000, server_mb: float = 100
) -> Path:
    profile = Profile(
        points=tuple(points),
        server=ServerBaseline(gpu_util_pct=0, mem_util_pct=0, memory_mb=server_mb),
        metadata=ProfileMetadata(device="gpu", gpu_name="test GPU", gpu_memory_mb=gpu_memory_mb),
    )
    write_profile(profile, directory)
    return directory


def gpu_type(name: str, directory: Path, memory: float = 1000, count=None, cost=None) -> GpuType:
    return GpuType(name, memory, read_profile(directory), count, cost)


def solve(
    types: tuple[GpuType, ...] | GpuType,
    goal: Goal = Goal.MIN_GPUS,
    objective: Objective = Objective.MIN_GPUS,
    thresholds: Thresholds | None = None,
    settings: SolverSettings = SETTINGS,
    **options,
) -> tuple[Problem, Plan]:
    """Build, plan, and assert the independent validator finds nothing wrong."""
    types = types if isinstance(types, tuple) else (types,)
    problem = build_problem(types, goal, objective, thresholds or Thresholds(), **options)
    plan = plan_problem(problem, settings)
    assert check_plan(problem, plan) == []
    return problem, plan


def replicas(plan: Plan, model: str) -> list[tuple[int, int]]:
    """(GPU index, batch size) of every replica of ``model``."""
    return [(g, p.batch_size) for m in plan.models if m.model == model for g, p in m.replicas]


__all__ = ["Goal", "Rules", "Target", "solve", "write", "gpu_type", "ab_points", "point", "replicas"]
