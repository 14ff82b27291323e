"""gpupack's command line: wires options to functions, prints what they return.

Every user-facing failure is a ``GpupackError``, caught once, in the root group: one line on stderr, a
"To fix:" hint where there is one, exit 2 for bad input and 1 for runtime failures; the traceback
only with ``--debug``. click's own usage errors (a bad option value) are printed the same way, exit 2.
SIGINT, SIGTERM and SIGHUP stop any command the same way (``profiler.signals``): cleanup, then exit
130, 143 or 129. Every option can also come from the environment, ``GPUPACK_<COMMAND>_<OPTION>``
(e.g. ``GPUPACK_PLAN_GPU_MEMORY=80GiB``), checked like the flag; an unknown ``GPUPACK_<COMMAND>_*``
variable is an error.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from profiler import signals
from profiler.errors import EXIT_BAD_INPUT, GpupackError
from profiler.options import (
    MAX_BATCH,
    MAX_CONCURRENCY,
    MAX_GPU_INDEX,
    MAX_GPUS,
    MAX_MEMORY_MB,
    MAX_SECONDS,
    MAX_SEED,
    MAX_THRESHOLD_PCT,
    MAX_TIME_LIMIT_S,
    MAX_WINDOWS,
    MAX_WORKERS,
    BoundedInt,
    FiniteFloat,
    GpupackCommand,
    check_environment,
    int_list,
)

if TYPE_CHECKING:
    from packer.service import PlanRequest


def _one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped, so an error stays one line."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _error(message: str, hint: str | None = None) -> None:
    click.echo(f"error: {_one_line(message)}", err=True)
    if hint:
        click.echo(f"To fix: {_one_line(hint)}", err=True)


class _Gpupack(click.Group):
    """The root group: where errors, interrupts and environment variables are handled, once."""

    command_class = GpupackCommand

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            check_environment(command)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except GpupackError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _error(exc.message, exc.hint)
            ctx.exit(exc.exit_code)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's main, with gpupack's signal policy and one-line usage errors; exits when standalone."""
        if not standalone_mode:
            with signals.handle_signals():
                return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            with signals.handle_signals():
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else (prog_name or "gpupack")
            _error(exc.format_message(), f"see '{command} --help'")
            code = EXIT_BAD_INPUT
        except click.ClickException as exc:
            _error(exc.format_message())
            code = exc.exit_code
        except click.Abort as exc:  # click turns KeyboardInterrupt into Abort when not standalone
            code = signals.exit_code(exc.__cause__ or exc.__context__)
        except KeyboardInterrupt as exc:
            code = signals.exit_code(exc)
        try:
            sys.exit(code if isinstance(code, int) else 0)
        except KeyboardInterrupt as exc:  # a signal after the handlers were put back: still no traceback
            sys.exit(signals.exit_code(exc))


@click.group(cls=_Gpupack, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--debug", is_flag=True, envvar="GPUPACK_DEBUG", help="Show tracebacks and solver search logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Profile Triton models and pack them onto the fewest GPUs."""
    ctx.obj = {"debug": debug}


# ---- plan -------------------------------------------------------------------------------------------


class MemorySize(click.ParamType):
    """A memory size such as 16GB, 16GiB, 16000MB or 80GiB, converted to MB (10^6 bytes)."""

    name = "SIZE"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """Parse ``value`` into MB, or fail with the accepted forms."""
        from packer.units import MEMORY_FORMS, parse_memory_mb

        megabytes = value if isinstance(value, float) else parse_memory_mb(value)
        if megabytes is None:
            self.fail(f"{value!r} is not a memory size like {MEMORY_FORMS}", param, ctx)
        if not FiniteFloat(0, MAX_MEMORY_MB, low_open=True).accepts(megabytes):
            self.fail(f"{value!r}: must be above 0 and at most {MAX_MEMORY_MB:g} MB", param, ctx)
        return megabytes


# A threshold: a percentage above 0; above 100 oversubscribes.
_PERCENT = FiniteFloat(0, MAX_THRESHOLD_PCT, low_open=True)


def _pins(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pins = []
    for value in values:
        model, sep, gpu_type = (v.strip() for v in value.partition("="))
        if not (sep and model and gpu_type):
            raise click.BadParameter(f"{value!r} is not MODEL=TYPE")
        pins.append((model, gpu_type))
    return tuple(pins)


def _model_groups(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple:
    groups = []
    for value in values:
        names = tuple(n.strip() for n in value.split(","))
        if len(names) < 2 or not all(names) or len(set(names)) < len(names):
            raise click.BadParameter(f"{value!r} is not two or more different model names joined by commas")
        groups.append(names)
    return tuple(groups)


_HEADROOM = FiniteFloat(0, 100, high_open=True)


_GENERALIZED_OPTIONS = (
    click.option(
        "--choose-points",
        is_flag=True,
        help="Choose each model's profiled point (batch size, concurrency, instances) jointly with the "
        "placement: fewest GPUs (or lowest cost), ties to the highest total throughput. --batch and "
        "--concurrency then only narrow the candidates.",
    ),
    click.option(
        "--targets",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Throughput targets, YAML (model: infer/s, or model: {throughput: infer/s, "
        "max_latency_p99_ms: ms}) or CSV (model,throughput[,max_latency_p99_ms]). Places as many "
        "replicas as each target needs (one profiled point on one GPU each, at most one per model per "
        "GPU); points above a p99 bound are never used; models not listed run once. Packs GPU and "
        "memory-controller utilization too, whatever --objective.",
    ),
    click.option(
        "--gpus",
        "gpu_budget",
        type=BoundedInt(1, MAX_GPUS),
        metavar="N",
        help="A budget of N GPUs, with --objective throughput: maximize the total throughput (with "
        "--targets: the smallest fraction of any target met), choosing points and replicas, instead of "
        "minimizing GPUs; ties go to the fewest GPUs (lowest cost).",
    ),
    click.option(
        "--fleet",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Mixed fleet, YAML: GPU types (name, memory, count, cost_per_hour, profile) and optional "
        "rules; see examples/fleet.yaml. Replaces --profiles and --gpu-memory.",
    ),
    click.option(
        "--minimize",
        type=click.Choice(["cost", "gpus"]),
        help="With --fleet: minimize the total cost per hour (default) or the number of GPUs.",
    ),
    click.option(
        "--pin",
        "pins",
        multiple=True,
        callback=_pins,
        metavar="MODEL=TYPE",
        help="Run MODEL only on GPUs of TYPE (a type of --fleet). Repeatable.",
    ),
    click.option(
        "--apart",
        multiple=True,
        callback=_model_groups,
        metavar="A,B[,...]",
        help="No two of these models on the same GPU. Repeatable.",
    ),
    click.option(
        "--together",
        multiple=True,
        callback=_model_groups,
        metavar="A,B[,...]",
        help="These models always share GPUs: every GPU running one runs all. Repeatable.",
    ),
    click.option(
        "--max-models-per-gpu",
        type=BoundedInt(1, MAX_GPUS),
        metavar="K",
        help="At most K models (replicas) per GPU. Default: no limit; overrides the fleet file's.",
    ),
    click.option(
        "--headroom",
        type=_HEADROOM,
        metavar="PCT",
        help="Keep PCT % of every packed resource of every GPU free: usage ≤ min(threshold, 100 − PCT) %. "
        "Default 0; overrides the fleet file's.",
    ),
)


def _generalized_options(command: click.decorators.FC) -> click.decorators.FC:
    """The options beyond the blog (configuration choice, targets, budget, fleet, rules)."""
    for option in reversed(_GENERALIZED_OPTIONS):
        command = option(command)
    return command


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
    type=_PERCENT,
    default=100.0,
    show_default=True,
    help="Threshold on each GPU's memory, % of --gpu-memory.",
)
@click.option(
    "--max-gpu-util",
    type=_PERCENT,
    help="Threshold on the sum of GPU utilization % per GPU (throughput only; default 100).",
)
@click.option(
    "--max-mem-util",
    type=_PERCENT,
    help="Threshold on the sum of memory-controller utilization % per GPU (throughput only; default 100).",
)
@click.option(
    "--batch", type=BoundedInt(1, MAX_BATCH), help="Use each model's profiled point at this batch size."
)
@click.option(
    "--concurrency",
    type=BoundedInt(1, MAX_CONCURRENCY),
    help="Use each model's profiled point at this concurrency. Without --batch/--concurrency: the "
    "point the profile marks selected, else the highest-throughput point that fits on one GPU.",
)
@click.option(
    "--time-limit",
    type=FiniteFloat(0, MAX_TIME_LIMIT_S, low_open=True),
    default=10.0,
    show_default=True,
    help="Solver time limit, seconds; on expiry the best plan found is returned with its gap.",
)
@click.option(
    "--workers",
    type=BoundedInt(0, MAX_WORKERS),
    default=0,
    show_default=True,
    help="Solver threads (0 = all cores).",
)
@click.option(
    "--seed",
    type=BoundedInt(-MAX_SEED - 1, MAX_SEED),
    default=0,
    show_default=True,
    help="Solver random seed.",
)
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
    type=BoundedInt(1, 65535),
    default=8000,
    show_default=True,
    help="GPU i's server listens on HTTP base+3i, gRPC base+3i+1, metrics base+3i+2.",
)
@_generalized_options
@click.pass_context
def plan(ctx: click.Context, **opts: object) -> None:
    """Assign models to the fewest GPUs and prove it where possible.

    Memory model: a GPU running models M holds server + sum over M of (model - server): every
    profiled memory includes the server, which is counted once per GPU, as the blog does.
    Units: memory in MB (10^6 bytes), utilization in % of one GPU, throughput in infer/s.

    Beyond the blog: --choose-points, --targets, --gpus, --fleet and the rules (--pin, --apart,
    --together, --max-models-per-gpu, --headroom) switch to the generalized planner; without them
    the plan is the blog's.
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
            noun = "repository" if count == 1 else "repositories"
            click.echo(f"wrote {count} {noun}, launch scripts and plan.json to {result.written.root}")


def _plan_request(opts: dict, debug: bool) -> PlanRequest:
    from packer.fleet import Rules
    from packer.problem import Objective, Selection, SolverSettings, Thresholds
    from packer.service import PlanRequest

    objective = Objective(opts["objective"])
    if objective is Objective.MIN_GPUS and (opts["max_gpu_util"] or opts["max_mem_util"]):
        raise click.UsageError("--max-gpu-util/--max-mem-util apply to --objective throughput only")
    if bool(opts["model_repository"]) != bool(opts["write_repositories"]):
        raise click.UsageError("--model-repository and --write-repositories go together")
    _check_generalized(opts, objective)
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
        choose_points=opts["choose_points"],
        targets=opts["targets"],
        gpu_budget=opts["gpu_budget"],
        fleet=opts["fleet"],
        minimize=opts["minimize"] or "cost",
        rules=Rules(
            pins=opts["pins"],
            apart=opts["apart"],
            together=opts["together"],
            max_models_per_gpu=opts["max_models_per_gpu"],
            headroom_pct=opts["headroom"],
        ),
    )


def _check_generalized(opts: dict, objective: object) -> None:
    """Combinations of the generalized options that make no sense."""
    from packer.problem import Objective

    if opts["gpu_budget"] and objective is not Objective.THROUGHPUT:
        raise click.UsageError("--gpus (a budget to maximize throughput on) goes with --objective throughput")
    if opts["fleet"] and (opts["profiles"] or opts["gpu_memory"]):
        raise click.UsageError(
            "--fleet names each GPU type's profile and memory; drop --profiles/--gpu-memory"
        )
    if opts["minimize"] and not opts["fleet"]:
        raise click.UsageError("--minimize chooses between cost and GPU count of a --fleet")
    if opts["minimize"] and opts["gpu_budget"]:
        raise click.UsageError("--minimize does not apply with --gpus, which maximizes throughput")
    if opts["pins"] and not opts["fleet"]:
        raise click.UsageError("--pin names a GPU type of --fleet")


# ---- profile ----------------------------------------------------------------------------------------


def _batches(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``1,2,4`` -> (1, 2, 4): batch sizes, repeats dropped, order kept."""
    return int_list(value, 1, MAX_BATCH)


def _concurrencies(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    return int_list(value, 1, MAX_CONCURRENCY)


def _model_names(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    if not names:
        raise click.BadParameter("give at least one model name, e.g. --models identity,sleepy")
    return names


def _shapes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple:
    from profiler.inputs import parse_shape

    try:
        return tuple(parse_shape(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


class _ProfileProgress:
    """Prints the sweep's progress lines and notices on stderr."""

    def progress(self, event: object) -> None:
        from profiler.report import progress_line

        click.echo(progress_line(event), err=True)  # type: ignore[arg-type]

    def notice(self, message: str) -> None:
        click.echo(f"note: {message}", err=True)


_PATH = click.Path(path_type=Path)


@cli.command()
@click.option(
    "--models", required=True, callback=_model_names, help="Comma-separated model names to profile."
)
@click.option(
    "--batch",
    default="1",
    show_default=True,
    callback=_batches,
    help="Batch sizes (samples per request), comma-separated.",
)
@click.option(
    "--concurrency",
    default="1",
    show_default=True,
    callback=_concurrencies,
    help="Requests kept in flight, comma-separated.",
)
@click.option(
    "--output",
    "-o",
    type=_PATH,
    default="profile",
    show_default=True,
    help="Directory for profile.csv, server-only.csv and metadata.json (local mode: tritonserver.log too).",
)
@click.option(
    "--resume", is_flag=True, help="Finish the profile in --output: skip points measured without error."
)
@click.option(
    "--model-repository",
    type=_PATH,
    help="Local mode: the Triton model repository; gpupack starts its own tritonserver on free ports.",
)
@click.option(
    "--triton-url",
    help="Remote mode instead: gRPC HOST[:PORT] (default port 8001) of a running server started with "
    "--model-control-mode=explicit.",
)
@click.option(
    "--metrics-url", help="Remote mode: the server's metrics URL.  [default: http://HOST:8002/metrics]"
)
@click.option(
    "--shape",
    "shapes",
    multiple=True,
    callback=_shapes,
    help="NAME:D1,D2,... dims of an input with dynamic dims, without the batch dimension (repeatable).",
)
@click.option(
    "--triton-server",
    type=_PATH,
    help="Local mode: the tritonserver binary.  [default: tritonserver on PATH, else nvidia-pytriton's]",
)
@click.option(
    "--backend-python",
    type=_PATH,
    help="Local mode: the python3 whose packages the models import (needs numpy<2); its folder goes first "
    "on the server's PATH.  [default: the Python running gpupack]",
)
@click.option(
    "--backend-directory",
    type=_PATH,
    help="Local mode: the server's --backend-directory, used as is.  [default: a temporary copy of the "
    "server's, with the Python backend stub for --backend-python's version]",
)
@click.option(
    "--gpu",
    type=BoundedInt(0, MAX_GPU_INDEX),
    default=0,
    show_default=True,
    help="Local mode: NVML index of the one GPU the server sees (CUDA_VISIBLE_DEVICES) and that is sampled.",
)
@click.option(
    "--load-generator",
    type=click.Choice(["builtin", "perf_analyzer"]),
    default="builtin",
    show_default=True,
    help="builtin: gpupack's asyncio gRPC client; perf_analyzer: Triton's, to compare.",
)
@click.option(
    "--perf-analyzer", type=_PATH, help="The perf_analyzer binary.  [default: perf_analyzer on PATH]"
)
@click.option(
    "--window",
    type=FiniteFloat(0, MAX_SECONDS, low_open=True),
    default=2.0,
    show_default=True,
    help="Measurement window, seconds.",
)
@click.option(
    "--warmup",
    type=FiniteFloat(0, MAX_SECONDS),
    default=2.0,
    show_default=True,
    help="Warm-up before the first window, seconds (built-in generator).",
)
@click.option(
    "--max-windows",
    type=BoundedInt(3, MAX_WINDOWS),
    default=10,
    show_default=True,
    help="Windows to try before recording a point as unstable.",
)
@click.option(
    "--stability",
    type=FiniteFloat(0, 100, low_open=True),
    default=10.0,
    show_default=True,
    help="Stable when 3 consecutive windows' throughputs lie within ± this % of their mean.",
)
@click.option(
    "--sample-interval",
    type=BoundedInt(10, 60_000),
    default=100,
    show_default=True,
    help="GPU and process sampling interval, milliseconds.",
)
@click.option(
    "--request-timeout",
    type=FiniteFloat(0, MAX_SECONDS, low_open=True),
    default=120.0,
    show_default=True,
    help="Seconds a request may take: a model slower than this hangs, and its remaining points are "
    "recorded as failed (the server is restarted, the sweep goes on).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON instead of the table.")
@click.pass_context
def profile(ctx: click.Context, **opts: object) -> None:
    """Measure models on a real Triton server, one model loaded at a time.

    For each model and each (batch, concurrency) point: throughput (infer/s), client latency
    p50/p90/p95/p99 (ms), and the maxima of GPU utilization, memory-controller utilization, SM
    activity (%), GPU memory (MB = 10^6 bytes, server included), server CPU (% of one core) and host
    memory (MB); plus the server alone, with no model loaded. The profile is rewritten after every
    point, so Ctrl-C keeps what finished and --resume goes on from there. A model that fails to
    load is recorded with its error and the sweep goes on; so does one that hangs or takes the server
    down (the server is restarted). Exit codes: 0 when anything was measured, 1 when every point
    failed, the server failed or the profile could not be written, 2 for bad input, 130 on Ctrl-C,
    143 on SIGTERM, 129 on SIGHUP.
    """
    from profiler.loadgen import MeasureSettings
    from profiler.report import profile_json, profile_report
    from profiler.request import ProfileRequest
    from profiler.run import run_profile

    try:
        settings = MeasureSettings(
            window_s=opts["window"],
            warmup_s=opts["warmup"],
            max_windows=opts["max_windows"],
            stability_pct=opts["stability"],
            request_timeout_s=opts["request_timeout"],
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    request = ProfileRequest(
        models=opts["models"],
        batch_sizes=opts["batch"],
        concurrencies=opts["concurrency"],
        output=opts["output"],
        model_repository=opts["model_repository"],
        triton_url=opts["triton_url"],
        metrics_url=opts["metrics_url"],
        triton_server=opts["triton_server"],
        backend_python=opts["backend_python"],
        backend_directory=opts["backend_directory"],
        gpu=opts["gpu"],
        shapes=opts["shapes"],
        load_generator=opts["load_generator"],
        perf_analyzer=opts["perf_analyzer"],
        settings=settings,
        sample_interval_s=opts["sample_interval"] / 1000,
        resume=opts["resume"],
    )  # type: ignore[arg-type]
    result = run_profile(request, _ProfileProgress())
    outcome = result.outcome
    if result.profile is None:
        click.echo(result.summary())
    elif opts["as_json"]:
        click.echo(
            profile_json(result.profile, {"summary": result.summary(), "notices": list(result.notices)})
        )
    else:
        click.echo(profile_report(result.profile, result.summary()))
    if outcome.write_error is not None:
        raise outcome.write_error
    if outcome.interrupted:
        ctx.exit(128 + (outcome.stop_signal or signal.SIGINT))
    if outcome.failed and not outcome.measured and not outcome.skipped:
        ctx.exit(1)


def main() -> None:
    """Console-script entry point (``gpupack``)."""
    # gRPC's fork handlers serve programs whose forked children use gRPC; ours only exec tritonserver,
    # and with gRPC's threads running the handlers print "skipping fork() handlers" at every server
    # restart. Read once, when gRPC starts, so set before anything imports it.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    cli(prog_name="gpupack")


if __name__ == "__main__":
    main()
