"""`gpupack validate`: options → a ``ValidateRequest`` → the written plan on real servers → tables or JSON."""

from __future__ import annotations

import click

from profiler.base.options import DIRECTORY, GpupackCommand, defaulted_option
from profiler.base.validation_file import DEFAULT_MIN_RATIO
from profiler.commands.options import (
    PERF_ANALYZER,
    SHAPE,
    Progress,
    load_generator,
    measure_options,
    measure_settings,
    sample_interval_s,
    server_options,
    start_timeout,
)


def _progress_line(event: object) -> str:
    from profiler.validation.report import progress_line

    e = event  # a profiler.validation.run.ValidationProgress
    return progress_line(e.done, e.total, e.gpus, e.elapsed_s, e.eta_s)  # type: ignore[attr-defined]


@click.command(cls=GpupackCommand)
@click.argument("directory", type=DIRECTORY)
@defaulted_option(
    "--gpu",
    click.IntRange(min=0),
    0,
    "NVML index of the GPU that runs each planned GPU in turn, when they are validated one at a time.",
)
@click.option(
    "--all-at-once/--one-at-a-time",
    default=None,
    help="Run every planned GPU's server at once (planned GPU i on GPU i), or one after another on --gpu.  "
    "[default: all at once when NVML sees every planned GPU's index, else one at a time]",
)
@defaulted_option(
    "--min-ratio",
    click.FloatRange(min=0, max=10, min_open=True),
    DEFAULT_MIN_RATIO,
    "A model or GPU falls short below this fraction of its promised throughput.",
)
@load_generator(
    "builtin: all models driven together in one asyncio loop with common windows; perf_analyzer: "
    "one perf_analyzer process per model, in parallel."
)
@PERF_ANALYZER
@server_options()
@SHAPE
@measure_options(
    "Load before the first window, seconds (after each model's warm-up requests).", ", for every model"
)
@start_timeout("Seconds to wait for a server and all its models to be ready.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of the tables.")
@click.pass_context
def validate(ctx: click.Context, **opts: object) -> None:
    """Deploy a written plan (DIRECTORY from plan --write-repositories) and check what it delivers.

    Starts each planned GPU's server from DIRECTORY/gpuN as its launch script does, warms every model up
    at its largest planned batch size, then drives all of a GPU's models at once, each at its planned
    batch size and concurrency, and compares measured with promised throughput (infer/s), with p50/p99
    latency (ms), peak GPU memory (MB, server included) against the plan, GPU, memory-controller and SM
    utilization (%). Writes DIRECTORY/validation.json and validation.csv. Exit codes: 0 when every GPU
    holds its plan, 1 when a GPU falls short (a model or the GPU below --min-ratio, or failed), 2 for
    bad input, 130/143 when interrupted.
    """
    from profiler.validation.records import ValidateRequest
    from profiler.validation.report import VALIDATION_JSON, validation_json, validation_report
    from profiler.validation.run import run_validation

    request = ValidateRequest(
        directory=opts["directory"],
        gpu=opts["gpu"],
        min_ratio=opts["min_ratio"],
        all_at_once=opts["all_at_once"],
        load_generator=opts["load_generator"],
        perf_analyzer=opts["perf_analyzer"],
        triton_server=opts["triton_server"],
        backend_python=opts["backend_python"],
        backend_directory=opts["backend_directory"],
        shapes=opts["shapes"],
        settings=measure_settings(opts),
        sample_interval_s=sample_interval_s(opts),
        start_timeout_s=opts["start_timeout"],
    )  # type: ignore[arg-type]
    result = run_validation(request, Progress(_progress_line))  # type: ignore[arg-type]
    if opts["as_json"]:
        click.echo(validation_json(result), nl=False)
    else:
        click.echo(validation_report(result, f"results in {request.directory / VALIDATION_JSON}"))
    if result.stopped_exit_code is not None:
        ctx.exit(result.stopped_exit_code)
    ctx.exit(0 if result.holds else 1)
