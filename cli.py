"""gpupack's command line: wires options to functions, prints what they return.

Every user-facing failure is a ``GpupackError``, caught once, in the root group: one line on stderr, a
"To fix:" hint where there is one, exit 2 for bad input and 1 for runtime failures; the traceback
only with ``--debug``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from profiler.errors import GpupackError

if TYPE_CHECKING:
    from packer.service import PlanRequest


class _Gpupack(click.Group):
    """The root group: the one place a ``GpupackError`` is caught."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except GpupackError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"To fix: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Gpupack, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--debug", is_flag=True, help="Show tracebacks and solver search logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Profile Triton models and pack them onto the fewest GPUs."""
    ctx.obj = {"debug": debug}


# ---- plan -------------------------------------------------------------------------------------------

_UNITS_MB = {
    "": 1.0,
    "mb": 1.0,
    "gb": 1e3,
    "tb": 1e6,
    "mib": 2**20 / 1e6,
    "gib": 2**30 / 1e6,
    "tib": 2**40 / 1e6,
}


class MemorySize(click.ParamType):
    """A memory size such as 16GB, 16GiB, 16000MB or 80GiB, converted to MB (10^6 bytes)."""

    name = "SIZE"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """Parse ``value`` into MB, or fail with the accepted forms."""
        if isinstance(value, float):
            return value
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        unit = match.group(2).lower() if match else None
        if unit not in _UNITS_MB or not float(match.group(1)) > 0:
            self.fail(f"{value!r} is not a memory size like 16GB, 16GiB, 16000MB or 80GiB", param, ctx)
        return float(match.group(1)) * _UNITS_MB[unit]


def _percent(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise click.BadParameter("must be a percentage above 0 (values above 100 oversubscribe)")
    return value


@cli.command()
@click.option(
    "--profiles",
    type=click.Path(path_type=Path),
    help="Profile to plan: a directory or profile.csv written by `gpupack profile`, or a Model Analyzer "
    "export (directory or metrics-model.csv). Default: the built-in example, the nine medical models "
    "of NVIDIA's Model Analyzer blog on 16 GB GPUs.",
)
@click.option(
    "--objective",
    type=click.Choice(["min-gpus", "throughput"]),
    default="min-gpus",
    show_default=True,
    help="min-gpus: fewest GPUs by GPU memory alone. throughput: fewest GPUs with the sums of GPU "
    "utilization, memory-controller utilization and GPU memory all under their thresholds, so no model "
    "loses throughput; ties go to the plan with the lowest peak utilization.",
)
@click.option(
    "--gpu-memory",
    type=MemorySize(),
    help="Memory of one GPU: 16GB (=16000 MB), 16GiB, 16000MB (plain numbers are MB). "
    "Default: the GPU the profile was measured on.",
)
@click.option(
    "--max-memory",
    type=float,
    default=100.0,
    show_default=True,
    callback=_percent,
    help="Threshold on each GPU's memory, % of --gpu-memory.",
)
@click.option(
    "--max-gpu-util",
    type=float,
    callback=_percent,
    help="Threshold on the sum of GPU utilization % per GPU (throughput only; default 100).",
)
@click.option(
    "--max-mem-util",
    type=float,
    callback=_percent,
    help="Threshold on the sum of memory-controller utilization % per GPU (throughput only; default 100).",
)
@click.option(
    "--batch", type=click.IntRange(min=1), help="Use each model's profiled point at this batch size."
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Use each model's profiled point at this concurrency. Without --batch/--concurrency: the "
    "point the profile marks selected, else the highest-throughput point that fits on one GPU.",
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Solver time limit, seconds; on expiry the best plan found is returned with its gap.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Solver threads (0 = all cores).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Solver random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON instead of the table.")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also write the plan JSON here."
)
@click.option(
    "--model-repository",
    type=click.Path(file_okay=False, path_type=Path),
    help="Triton model repository holding the planned models (with --write-repositories).",
)
@click.option(
    "--write-repositories",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one model repository per GPU (DIR/gpu0, ...), launch scripts and plan.json; "
    "DIR must not exist or be empty.",
)
@click.option(
    "--base-port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="GPU i's server listens on HTTP base+3i, gRPC base+3i+1, metrics base+3i+2.",
)
@click.pass_context
def plan(ctx: click.Context, **opts: object) -> None:
    """Assign models to the fewest GPUs and prove it where possible.

    Memory model: a GPU running models M holds server + sum over M of (model - server): every
    profiled memory includes the server, which is counted once per GPU, as the blog does.
    Units: memory in MB (10^6 bytes), utilization in % of one GPU, throughput in infer/s.
    """
    # Imported here, not at the top: the packer needs OR-Tools, which the GPU host (profile) lacks.
    from packer.report import plan_table
    from packer.service import run_plan

    result = run_plan(_plan_request(opts, ctx.obj["debug"]))
    if opts["as_json"]:
        click.echo(result.plan.to_json(), nl=False)
    else:
        click.echo(plan_table(result.plan, result.problem))
        if result.written:
            count = len(result.written.repositories)
            click.echo(f"wrote {count} repositories and launch scripts to {result.written.root}")


def _plan_request(opts: dict, debug: bool) -> PlanRequest:
    from packer.problem import Objective, Selection, SolverSettings, Thresholds
    from packer.service import PlanRequest

    objective = Objective(opts["objective"])
    if objective is Objective.MIN_GPUS and (opts["max_gpu_util"] or opts["max_mem_util"]):
        raise click.UsageError("--max-gpu-util/--max-mem-util apply to --objective throughput only")
    if bool(opts["model_repository"]) != bool(opts["write_repositories"]):
        raise click.UsageError("--model-repository and --write-repositories go together")
    return PlanRequest(
        profiles=opts["profiles"],
        objective=objective,
        gpu_memory_mb=opts["gpu_memory"],
        thresholds=Thresholds(
            opts["max_memory"], opts["max_gpu_util"] or 100.0, opts["max_mem_util"] or 100.0
        ),
        selection=Selection(opts["batch"], opts["concurrency"]),
        settings=SolverSettings(opts["time_limit"], opts["workers"], opts["seed"], debug),
        output=opts["output"],
        model_repository=opts["model_repository"],
        write_repositories=opts["write_repositories"],
        base_port=opts["base_port"],
    )


# ---- profile ----------------------------------------------------------------------------------------


def main() -> None:
    """Console-script entry point (``gpupack``)."""
    cli(prog_name="gpupack", auto_envvar_prefix="GPUPACK")


if __name__ == "__main__":
    main()
