"""The generalized `plan` use case: read the fleet and targets, build the problem, solve, check.

``service.run_plan`` calls ``plan_generalized`` whenever the request asks for configuration choice,
targets, a GPU budget, a fleet or a rule; it writes nothing itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from packer.fleet import DEFAULT_TYPE, Goal, GpuType, Rules
from packer.fleet_check import check_fleet_plan
from packer.fleet_io import read_fleet, read_targets
from packer.fleet_planner import plan_fleet
from packer.fleet_problem import FleetProblem, build_fleet_problem
from packer.plan import Plan
from profiler.errors import GpupackError, InputError
from profiler.profile_io import read_profile

if TYPE_CHECKING:
    from packer.service import PlanRequest


def _default_type(request: PlanRequest, builtin: Path) -> GpuType:
    """Without a fleet file: one type, the profile's GPU (or --gpu-memory), as many as needed."""
    profile = read_profile(request.profiles or builtin)
    memory = request.gpu_memory_mb or profile.metadata.gpu_memory_mb
    if memory is None:
        raise InputError(
            f"{profile.source}: the profile does not say how much memory the GPU has", "pass --gpu-memory"
        )
    return GpuType(DEFAULT_TYPE, memory, profile)


def _goal(request: PlanRequest, has_targets: bool) -> Goal:
    if request.gpu_budget is not None:
        return Goal.MAX_TARGET_FRACTION if has_targets else Goal.MAX_THROUGHPUT
    return Goal.MIN_COST if request.fleet and request.minimize == "cost" else Goal.MIN_GPUS


def plan_generalized(request: PlanRequest, builtin: Path) -> tuple[FleetProblem, Plan]:
    """Plan ``request`` with the generalized planner; the plan has passed ``check_fleet_plan``."""
    rules = Rules()
    if request.fleet:
        fleet = read_fleet(request.fleet)
        types, rules = fleet.types, fleet.rules
    else:
        types = (_default_type(request, builtin),)
    targets = read_targets(request.targets) if request.targets else ()
    problem = build_fleet_problem(
        types,
        _goal(request, bool(targets)),
        request.objective,
        request.thresholds,
        targets=targets,
        rules=rules.merged(request.rules),
        selection=request.selection,
        # On a budget the throughput to maximize comes from choosing points.
        choose_points=request.choose_points or request.gpu_budget is not None,
        gpu_budget=request.gpu_budget,
    )
    plan = plan_fleet(problem, request.settings)
    violations = check_fleet_plan(problem, plan)
    if violations:
        raise GpupackError(f"internal error: the plan fails its check: {violations[0]}")
    return problem, plan
