"""The `plan` use case end to end: read the inputs, build the problem, solve, check, write.

The plan JSON and the repositories are written only after the plan passes ``check_plan``.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from packer import work
from packer.check import check_plan
from packer.colocation import DEFAULT_MIN_RATIO
from packer.deploy.repository import WrittenRepositories, write_repositories
from packer.deploy.source import SourceRepository, read_source
from packer.fleet_file import read_fleet, read_targets
from packer.inputs import DEFAULT_TYPE, GpuType, read_plan_profile
from packer.interference import read_interference
from packer.plan import Plan
from packer.planner import plan
from packer.problem import Problem, build_problem
from packer.rules import NO_RULES, Rules
from packer.settings import Goal, Objective, Selection, SolverSettings, Thresholds
from profiler import (
    GROUP_SEPARATOR,
    GpupackError,
    InputError,
    Profile,
    ensure_directory,
    exclusive,
    refuse_overlap,
    write_atomic,
)

if TYPE_CHECKING:
    from packer.reports import WrittenReport

BUILTIN_PROFILE = Path(__file__).parent / "data" / "seed"
# What follows the solve (numbering the plan, check_plan, the JSON and the table) takes about
# ``work.AFTER_S_PER_MODEL`` per model (measured: 1–2 s for 10,000 models on the loaded 2-core
# development host): the solver's wall-clock cap is that much before the command's, but never more
# than half the time limit earlier (its work budget, ``work.budget``, sets aside the same). Python's
# start and imports (~0.5 s) come before the clock starts; writing repositories (copies of model
# files) and the HTML report come on top: they depend on the disk and the models.
AFTER_SOLVE_S_PER_MODEL = work.AFTER_S_PER_MODEL
AFTER_SOLVE_MOST_SHARE = work.AROUND_MOST_SHARE


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
    choose_points: bool = False
    targets: Path | None = None
    gpu_budget: int | None = None
    fleet: Path | None = None
    # Without a fleet: the MIG product the GPUs may be sliced as (``packer.mig.products``).
    mig: str | None = None
    minimize: str = "cost"
    rules: Rules = NO_RULES
    interference: tuple[Path, ...] = ()
    # The least predicted ratio a model may run at beside others (``packer.colocation``); None: off.
    colocation: float | None = DEFAULT_MIN_RATIO
    report: Path | None = None
    # The options as given (``profiler.base.cli_config.effective_settings``), recorded in the plan JSON.
    settings_record: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanResult:
    """The plan, the problem it solves, and the repositories written (if asked)."""

    plan: Plan
    problem: Problem
    written: WrittenRepositories | None
    report: WrittenReport | None = None


def _default_type(request: PlanRequest) -> GpuType:
    """Without a fleet file: one type, the profile's GPU (or --gpu-memory), as many as needed."""
    profile = read_plan_profile(request.profiles or BUILTIN_PROFILE)
    memory = request.gpu_memory_mb or profile.metadata.gpu_memory_mb
    if request.mig and not request.gpu_memory_mb:
        from packer.mig.products import mig_product

        # Sliced, the GPU is the MIG product, whatever GPU the profile was measured on.
        memory = mig_product(request.mig).memory_gb * 1000.0
    if memory is None:
        raise InputError(
            f"{profile.source}: the profile does not say how much memory the GPU has", "pass --gpu-memory"
        )
    return GpuType(DEFAULT_TYPE, memory, profile, mig=request.mig)


def _goal(request: PlanRequest, has_targets: bool) -> Goal:
    if request.gpu_budget is not None:
        return Goal.MAX_TARGET_FRACTION if has_targets else Goal.MAX_THROUGHPUT
    return Goal.MIN_COST if request.fleet and request.minimize == "cost" else Goal.MIN_GPUS


def build_request_problem(request: PlanRequest) -> tuple[Problem, SourceRepository | None]:
    """The problem ``request`` describes, and the source repository it names (if any).

    An ensemble and its profiled steps must share GPUs: they become a ``together`` rule.
    """
    rules = NO_RULES
    if request.fleet:
        fleet = read_fleet(request.fleet)
        types, rules = fleet.types, fleet.rules
    else:
        types = (_default_type(request),)
    targets = read_targets(request.targets) if request.targets else ()
    models = list(dict.fromkeys(m for t in types for m in t.profile.models()))
    interference = read_interference(request.interference, known=models)
    rules = rules.merged(Rules(apart=interference.apart))
    source = None
    if request.model_repository:
        # A point measured for models together (``a+b``) deploys each of them.
        source = read_source(request.model_repository, [m for g in models for m in g.split(GROUP_SEPARATOR)])
        rules = rules.merged(Rules(together=source.dependency_groups(models)))
    problem = build_problem(
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
        slowdown=interference.slowdowns,
        colocation=request.colocation,
    )
    kept_apart = tuple(
        f"kept apart, measured short together (--interference): {', '.join(g)}" for g in interference.apart
    )
    return replace(problem, notes=problem.notes + kept_apart), source


def _check_outputs(request: PlanRequest) -> None:
    """Before any work: no output is an input or inside one, and every output's folder can exist."""
    inputs = {
        "--profiles": request.profiles,
        "--fleet": request.fleet,
        "--targets": request.targets,
        "--model-repository": request.model_repository,
        **{f"--interference {k + 1}": path for k, path in enumerate(request.interference)},
    }
    for option, output in (
        ("--output", request.output),
        ("--write-repositories", request.write_repositories),
        ("--report", request.report),
    ):
        if output is not None:
            refuse_overlap(output, inputs, option)
            ensure_directory(output.parent)


def run_plan(request: PlanRequest) -> PlanResult:
    """Plan ``request``; writes the outputs only after the plan checks out, all of them or none.

    The plan JSON is held under a lock (another run may name the same ``--output``); if it or the
    report cannot be written, the repositories written a moment before are removed again.
    """
    # --time-limit is the whole command's: reading, building, solving, checking and writing.
    deadline = time.monotonic() + request.settings.max_time_in_seconds
    _check_outputs(request)
    problem, source = build_request_problem(request)
    limit = request.settings.max_time_in_seconds
    solve_by = deadline - min(AFTER_SOLVE_S_PER_MODEL * len(problem.items), AFTER_SOLVE_MOST_SHARE * limit)
    result = replace(plan(problem, request.settings, solve_by), settings=dict(request.settings_record))
    violations = check_plan(problem, result)
    if violations:
        raise GpupackError(f"internal error: the plan fails its check: {violations[0]}")
    profiles = {t.name: t.profile for t in problem.types}
    with exclusive(request.output) if request.output else contextlib.nullcontext():
        written = None
        if request.write_repositories and source is not None:
            written = write_repositories(
                result, source, request.write_repositories, request.base_port, profiles
            )
        try:
            if request.output:
                write_atomic(request.output, result.to_json())
            report = _write_report(result, profiles, request.report) if request.report else None
        except BaseException:
            if written is not None:
                shutil.rmtree(written.root, ignore_errors=True)
            raise
    return PlanResult(plan=result, problem=problem, written=written, report=report)


def _write_report(result: Plan, profiles: Mapping[str, Profile], output: Path) -> WrittenReport:
    # Imported when a report is asked for: matplotlib would add about a second to every plan's start.
    from packer.reports import report_data, write_report

    return write_report(report_data(result.to_dict(), profiles), output)


@dataclass(frozen=True)
class ReportRequest:
    """`gpupack report`: a plan (JSON file or repositories directory) and the profiles behind it.

    Without ``profiles`` or ``fleet``, those the plan's recorded settings name are used, else the
    built-in example. Without ``validation``, the validation.json beside the plan is drawn, if any.
    """

    plan: Path
    output: Path
    profiles: Path | None = None
    fleet: Path | None = None
    validation: Path | None = None


def _report_types(request: ReportRequest, settings: Mapping[str, object]) -> dict[str, Profile]:
    fleet = request.fleet or (None if request.profiles else settings.get("fleet"))
    if fleet:
        return {t.name: t.profile for t in read_fleet(Path(str(fleet))).types}
    profiles = request.profiles or settings.get("profiles") or BUILTIN_PROFILE
    return {DEFAULT_TYPE: read_plan_profile(Path(str(profiles)))}


def run_report(request: ReportRequest) -> WrittenReport:
    """Draw the report of a plan written before; its validation (beside it, or named) adds figures."""
    from packer.reports import load_plan, report_data, write_report

    plan, validation = load_plan(request.plan, request.validation)
    profiles = _report_types(request, plan.document.get("settings") or {})
    return write_report(report_data(plan.document, profiles, validation), request.output)
