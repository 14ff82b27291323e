"""`gpupack plan`: options → ``PlanOptions`` (checked) → ``packer.service.run_plan`` → table or JSON."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from packer.commands.plan_options import GENERALIZED_OPTIONS, OUTPUT_OPTIONS, PLAN_OPTIONS
from packer.commands.report import wrote_report
from profiler import GpupackCommand, configurable, effective_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from packer.service import PlanRequest, PlanResult
    from packer.settings import SearchProgress


@dataclass(frozen=True)
class PlanOptions:
    """The options of `gpupack plan` as given (``None``: not given), before defaults fill them in."""

    profiles: Path | None = None
    objective: str = "min-gpus"
    gpu_memory: float | None = None
    max_memory: float = 100.0
    max_gpu_util: float | None = None
    max_mem_util: float | None = None
    batch: int | None = None
    concurrency: int | None = None
    time_limit: float = 10.0
    workers: int = 0
    seed: int = 0
    as_json: bool = False
    output: Path | None = None
    model_repository: Path | None = None
    write_repositories: Path | None = None
    base_port: int = 8000
    choose_points: bool = False
    targets: Path | None = None
    gpu_budget: int | None = None
    fleet: Path | None = None
    mig: str | None = None
    minimize: str | None = None
    pins: tuple[tuple[str, str], ...] = ()
    apart: tuple[tuple[str, ...], ...] = ()
    together: tuple[tuple[str, ...], ...] = ()
    max_models_per_gpu: int | None = None
    headroom: float | None = None
    interference: tuple[Path, ...] = ()
    colocation: bool = True
    colocation_min_ratio: float | None = None
    report: Path | None = None
    quiet: bool = False
    wide: bool = False

    def conflict(self) -> str | None:
        """The first combination of options that makes no sense, in one line; ``None`` when they agree."""
        throughput = self.objective == "throughput"
        if not throughput and (self.max_gpu_util or self.max_mem_util):
            return "--max-gpu-util/--max-mem-util apply to --objective throughput only"
        if bool(self.model_repository) != bool(self.write_repositories):
            return "--model-repository and --write-repositories go together"
        if self.interference and not throughput and not self.targets:
            return "--interference applies to --objective throughput or --targets only"
        if self.colocation_min_ratio is not None and not self.colocation:
            return "--colocation-min-ratio sets the co-location model, which --no-colocation turns off"
        if self.colocation_min_ratio is not None and not throughput and not self.targets:
            return "--colocation-min-ratio applies to --objective throughput or --targets only"
        if self.gpu_budget and not throughput:
            return "--gpus (a budget to maximize throughput on) goes with --objective throughput"
        if self.fleet and (self.profiles or self.gpu_memory):
            return "--fleet names each GPU type's profile and memory; drop --profiles/--gpu-memory"
        if self.fleet and self.mig:
            return "--mig is for a single GPU type; in a --fleet file, give the type mig: PRODUCT"
        if self.minimize and not self.fleet:
            return "--minimize chooses between cost and GPU count of a --fleet"
        if self.minimize and self.gpu_budget:
            return "--minimize does not apply with --gpus, which maximizes throughput"
        if self.pins and not self.fleet:
            return "--pin names a GPU type of --fleet"
        return None

    def request(
        self,
        debug: bool = False,
        settings_record: Mapping[str, object] | None = None,
        progress: Callable[[SearchProgress], None] | None = None,
    ) -> PlanRequest:
        """The service's request: these options with their defaults filled in."""
        from packer.rules import Rules
        from packer.service import PlanRequest
        from packer.settings import Objective, Selection, SolverSettings, Thresholds

        # Co-location: the service's default least ratio unless given; None turns it off.
        colocation = {} if self.colocation_min_ratio is None else {"colocation": self.colocation_min_ratio}
        return PlanRequest(
            **(colocation if self.colocation else {"colocation": None}),
            profiles=self.profiles,
            objective=Objective(self.objective),
            gpu_memory_mb=self.gpu_memory,
            thresholds=Thresholds(self.max_memory, self.max_gpu_util or 100.0, self.max_mem_util or 100.0),
            selection=Selection(self.batch, self.concurrency),
            settings=SolverSettings(
                self.time_limit, self.workers, self.seed, debug, None if self.quiet else progress
            ),
            output=self.output,
            model_repository=self.model_repository,
            write_repositories=self.write_repositories,
            base_port=self.base_port,
            choose_points=self.choose_points,
            targets=self.targets,
            gpu_budget=self.gpu_budget,
            fleet=self.fleet,
            mig=self.mig,
            minimize=self.minimize or "cost",
            interference=self.interference,
            report=self.report,
            settings_record=settings_record or {},
            rules=Rules(
                pins=self.pins,
                apart=self.apart,
                together=self.together,
                max_models_per_gpu=self.max_models_per_gpu,
                headroom_pct=self.headroom,
            ),
        )


def _progress(progress: SearchProgress) -> None:
    """One progress line on stderr: stage, best value and bound so far, time."""
    unit = f" {progress.unit}" if progress.unit else ""
    values = []
    if progress.best is not None:
        values.append(f"best {progress.best:g}{unit}")
    if progress.bound is not None:
        values.append(f"bound {progress.bound:g}{unit}")
    known = f": {', '.join(values)}" if values else ""
    click.echo(f"searching ({progress.stage}){known}, {progress.seconds:.0f} s", err=True)


def _table_width(wide: bool) -> int | None:
    """The terminal's width for tables; ``None`` (no limit) with --wide or when not a terminal."""
    if wide or not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def _render(result: PlanResult, options: PlanOptions) -> None:
    """The plan as JSON, or its table and what was written beside it."""
    from packer.report import plan_table

    if options.as_json:
        click.echo(result.plan.to_json(), nl=False)
        return
    click.echo(plan_table(result.plan, result.problem, _table_width(options.wide)))
    if result.written:
        count = len(result.written.repositories)
        noun = "repository" if count == 1 else "repositories"
        click.echo(f"wrote {count} {noun}, launch scripts and plan.json to {result.written.root}")
        for note in result.written.notes:
            click.echo(f"note: {note}")
    if result.report:
        click.echo(wrote_report(result.report))


@configurable(not_replayed=("output", "write-repositories", "report"))
@click.command(cls=GpupackCommand)
@PLAN_OPTIONS
@GENERALIZED_OPTIONS
@OUTPUT_OPTIONS
@click.pass_context
def plan(ctx: click.Context, **opts: object) -> None:
    """Assign models to the fewest GPUs and prove it where possible.

    Memory model: a GPU running models M holds server + sum over M of (model - server): every
    profiled memory includes the server, which is counted once per GPU, as the blog does.
    Units: memory in MB (10^6 bytes), utilization in % of one GPU, throughput in infer/s.

    Beyond the blog: --choose-points, --targets, --gpus, --fleet and the rules (--pin, --apart,
    --together, --max-models-per-gpu, --headroom) make it a multiple-choice problem (points,
    replicas, GPU types, rules); without them each model has one point on one kind of GPU.
    """
    # Imported here, not at the top: the packer needs OR-Tools, which the GPU host (profile) lacks.
    from packer.service import run_plan

    options = PlanOptions(**opts)  # type: ignore[arg-type]
    conflict = options.conflict()
    if conflict:
        raise click.UsageError(conflict)
    result = run_plan(options.request(ctx.obj["debug"], effective_settings(ctx), _progress))
    _render(result, options)
