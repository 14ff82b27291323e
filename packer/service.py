"""The `plan` use case end to end: read the profile, build the problem, solve, check, write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packer.check import check_plan
from packer.fleet import NO_RULES, Rules
from packer.fleet_problem import FleetProblem
from packer.fleet_service import plan_generalized
from packer.plan import Plan
from packer.planner import plan
from packer.problem import Objective, Problem, Selection, SolverSettings, Thresholds, build_problem
from packer.repository import WrittenRepositories, write_repositories
from profiler.errors import GpupackError, InputError
from profiler.profile_io import read_profile, write_atomic

BUILTIN_PROFILE = Path(__file__).parent / "data" / "seed"


@dataclass(frozen=True)
class PlanRequest:
    """Everything `gpupack plan` was asked; ``None`` profiles means the built-in example."""

    profiles: Path | None
    objective: Objective
    gpu_memory_mb: float | None
    thresholds: Thresholds
    selection: Selection
    settings: SolverSettings
    output: Path | None = None
    model_repository: Path | None = None
    write_repositories: Path | None = None
    base_port: int = 8000
    # Beyond the blog (any of these switches to the generalized planner, ``fleet_service``):
    choose_points: bool = False
    targets: Path | None = None
    gpu_budget: int | None = None
    fleet: Path | None = None
    minimize: str = "cost"
    rules: Rules = NO_RULES

    @property
    def generalized(self) -> bool:
        """True when the request needs the generalized planner."""
        return bool(
            self.choose_points or self.targets or self.gpu_budget or self.fleet or not self.rules.empty
        )


@dataclass(frozen=True)
class PlanResult:
    """The plan, the problem it solves, and the repositories written (if asked)."""

    plan: Plan
    problem: Problem | FleetProblem
    written: WrittenRepositories | None


def run_plan(request: PlanRequest) -> PlanResult:
    """Plan ``request``; writes the plan JSON and repositories only after the plan checks out."""
    if request.generalized:
        problem, result = plan_generalized(request, BUILTIN_PROFILE)
    else:
        problem, result = _plan_blog(request)
    written = None
    if request.write_repositories:
        written = write_repositories(
            result, request.model_repository, request.write_repositories, request.base_port
        )
    if request.output:
        write_atomic(request.output, result.to_json())
    return PlanResult(plan=result, problem=problem, written=written)


def _plan_blog(request: PlanRequest) -> tuple[Problem, Plan]:
    """The blog's planner: one fixed point per model, identical GPUs, fewest GPUs."""
    profile = read_profile(request.profiles or BUILTIN_PROFILE)
    gpu_memory = request.gpu_memory_mb or profile.metadata.gpu_memory_mb
    if gpu_memory is None:
        raise InputError(
            f"{profile.source}: the profile does not say how much memory the GPU has", "pass --gpu-memory"
        )
    problem = build_problem(profile, request.objective, gpu_memory, request.thresholds, request.selection)
    result = plan(problem, request.settings)
    violations = check_plan(problem, result)
    if violations:
        raise GpupackError(f"internal error: the plan fails its check: {violations[0]}")
    return problem, result
