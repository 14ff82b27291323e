"""gpupack's command line: wires options to functions, prints what they return.

Every user-facing failure is a ``GpupackError``, caught once, in the root group: one line on stderr, a
"To fix:" hint where there is one, exit 2 for bad input and 1 for runtime failures; the traceback
only with ``--debug``. click's own usage errors (a bad option value) are printed the same way, exit 2.
SIGINT, SIGTERM and SIGHUP stop any command the same way (``profiler.base.signals``): cleanup, then exit
130, 143 or 129. Every option can also come from the environment, ``GPUPACK_<COMMAND>_<OPTION>``
(e.g. ``GPUPACK_PLAN_GPU_MEMORY=80GiB``), checked like the flag; an unknown ``GPUPACK_<COMMAND>_*``
variable is an error.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from profiler.base import signals
from profiler.base.cli_config import configurable, effective_settings
from profiler.base.errors import EXIT_BAD_INPUT, GpupackError
from profiler.base.options import (
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
    from packer.reports import WrittenReport
    from packer.service import PlanRequest
    from packer.settings import SearchProgress


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
        if args[:2] == ["profile", "merge"]:
            name, command, rest = "profile merge", profile_merge, args[2:]
        else:
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


def _options(options: Sequence[Callable]) -> Callable:
    """A decorator applying a group of click options, in the order listed."""

    def apply(command: click.decorators.FC) -> click.decorators.FC:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


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
    click.option(
        "--interference",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="validation.json written by `gpupack validate` (repeatable): each model that ran slower "
        "beside others than promised counts its GPU and memory-controller utilization times that "
        "slowdown (promised / measured infer/s, the worst run; on a GPU planned above 100 % utilization, "
        "beyond its time share 100/U), and the models of a GPU that fell short without being "
        "oversubscribed are kept apart, so a re-plan keeps its promises. "
        "Needs --objective throughput or --targets.",
    ),
)


# ---- plan output: report, progress, table width ------------------------------------------------------

_OUTPUT_OPTIONS = (
    click.option(
        "--report",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Also write an HTML report (figures embedded; the PNGs in FILE_files/ beside it): each "
        "model's profiled points with the chosen one, each GPU's resources against the limits, the "
        "plan against its bound.",
    ),
    click.option(
        "--quiet",
        "-q",
        is_flag=True,
        help="No progress lines on stderr (by default the search reports its best plan and bound "
        "every 5 s once it runs that long).",
    ),
    click.option(
        "--wide",
        is_flag=True,
        help="Print tables in full, one line per row, whatever the terminal's width (output that is "
        "not a terminal always is).",
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


def _wrote_report(written: WrittenReport) -> str:
    folder = written.images[0].parent if written.images else ""
    return f"wrote the report {written.html} and its {len(written.images)} figures to {folder}"


@configurable(not_replayed=("output", "write-repositories", "report"))
@cli.command()
@click.option(
    "--profiles",
    type=click.Path(path_type=Path),
    help="Profile to plan: a directory or profile.csv written by `gpupack profile`; Model Analyzer 1.x "
    "output (a checkpoint N.ckpt, metrics-model-inference.csv, or a directory holding either: every "
    "config variant is a candidate point); or the 2020 export (metrics-model.csv). Default: the "
    "built-in example, the nine medical models of NVIDIA's Model Analyzer blog on 16 GB GPUs.",
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
@_options(_GENERALIZED_OPTIONS)
@_options(_OUTPUT_OPTIONS)
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
    from packer.report import plan_table
    from packer.service import run_plan

    request = _plan_request(opts, ctx.obj["debug"], effective_settings(ctx))
    result = run_plan(request)
    if opts["as_json"]:
        click.echo(result.plan.to_json(), nl=False)
    else:
        click.echo(plan_table(result.plan, result.problem, _table_width(opts["wide"])))
        if result.written:
            count = len(result.written.repositories)
            noun = "repository" if count == 1 else "repositories"
            click.echo(f"wrote {count} {noun}, launch scripts and plan.json to {result.written.root}")
            for note in result.written.notes:
                click.echo(f"note: {note}")
        if result.report:
            click.echo(_wrote_report(result.report))


def _plan_request(opts: dict, debug: bool, settings_record: dict | None = None) -> PlanRequest:
    from packer.rules import Rules
    from packer.service import PlanRequest
    from packer.settings import Objective, Selection, SolverSettings, Thresholds

    objective = Objective(opts["objective"])
    if objective is Objective.MIN_GPUS and (opts["max_gpu_util"] or opts["max_mem_util"]):
        raise click.UsageError("--max-gpu-util/--max-mem-util apply to --objective throughput only")
    if bool(opts["model_repository"]) != bool(opts["write_repositories"]):
        raise click.UsageError("--model-repository and --write-repositories go together")
    _check_beyond_plain(opts, objective)
    return PlanRequest(
        profiles=opts["profiles"],
        objective=objective,
        gpu_memory_mb=opts["gpu_memory"],
        thresholds=Thresholds(
            opts["max_memory"], opts["max_gpu_util"] or 100.0, opts["max_mem_util"] or 100.0
        ),
        selection=Selection(opts["batch"], opts["concurrency"]),
        settings=SolverSettings(
            opts["time_limit"], opts["workers"], opts["seed"], debug, None if opts["quiet"] else _progress
        ),
        output=opts["output"],
        model_repository=opts["model_repository"],
        write_repositories=opts["write_repositories"],
        base_port=opts["base_port"],
        choose_points=opts["choose_points"],
        targets=opts["targets"],
        gpu_budget=opts["gpu_budget"],
        fleet=opts["fleet"],
        minimize=opts["minimize"] or "cost",
        interference=opts["interference"],
        report=opts["report"],
        settings_record=settings_record or {},
        rules=Rules(
            pins=opts["pins"],
            apart=opts["apart"],
            together=opts["together"],
            max_models_per_gpu=opts["max_models_per_gpu"],
            headroom_pct=opts["headroom"],
        ),
    )


def _check_beyond_plain(opts: dict, objective: object) -> None:
    """Combinations of the options beyond the plain problem that make no sense."""
    from packer.settings import Objective

    if opts["interference"] and objective is not Objective.THROUGHPUT and not opts["targets"]:
        raise click.UsageError("--interference applies to --objective throughput or --targets only")
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


# ---- export -----------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--kubernetes",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write Kubernetes manifests of DIRECTORY's plan (multi-document YAML): a Deployment and a "
    "Service per planned GPU.",
)
@click.option(
    "--compose",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write a docker compose file of DIRECTORY's plan for one multi-GPU host: a service per GPU.",
)
@click.option(
    "--kubernetes-profile-job",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write an Indexed Job that profiles --shards shards of the model repository in parallel, one "
    "GPU per pod (pod I runs `gpupack profile --shard I/N`); no DIRECTORY needed. Then "
    "`gpupack profile merge` joins /results/shard-*.",
)
@click.option(
    "--image",
    default=None,
    help="Container image: tritonserver for a plan [nvcr.io/nvidia/tritonserver:24.10-py3]; for the "
    "profile job, an image with gpupack and its server installed (required).",
)
@click.option(
    "--volume",
    metavar="SPEC",
    help="Where pods find DIRECTORY (a plan) or the model repository (profile job): pvc:CLAIM, "
    "hostpath:/PATH (on every GPU node) or image (baked into --image at /models).",
)
@click.option(
    "--results-volume",
    metavar="SPEC",
    help="Profile job: where the shard profiles go (pvc:CLAIM or hostpath:/PATH), at /results.",
)
@click.option(
    "--shards", type=click.IntRange(min=1, max=1000), default=None, help="Profile job: pods, one GPU each."
)
@click.option(
    "--profile-args",
    default="",
    metavar="ARGS",
    help='Profile job: more `gpupack profile` options, e.g. "--batch 1,4,8 --concurrency 1,4".',
)
@click.option(
    "--name-prefix",
    default="gpupack",
    show_default=True,
    help="Kubernetes object names: PREFIX-gpuN, PREFIX-profile.",
)
def export(directory: Path | None, **opts: object) -> None:
    """Export a written plan (DIRECTORY) for Kubernetes or compose, or a sharded profiling Job."""
    from packer.deploy.manifests import (
        DEFAULT_IMAGE,
        Volume,
        compose_file,
        kubernetes_objects,
        profile_job,
        read_plan_dir,
        to_yaml,
    )
    from profiler import write_atomic

    kubernetes, compose, job = opts["kubernetes"], opts["compose"], opts["kubernetes_profile_job"]
    if not (kubernetes or compose or job):
        raise click.UsageError("name at least one of --kubernetes, --compose and --kubernetes-profile-job")
    if (kubernetes or compose) and directory is None:
        raise click.UsageError("--kubernetes and --compose export a plan: name its DIRECTORY")
    if (kubernetes or job) and not opts["volume"]:
        raise click.UsageError(
            "--kubernetes and --kubernetes-profile-job need --volume (pvc:CLAIM, hostpath:/PATH or image)"
        )
    prefix = str(opts["name_prefix"])
    if job:
        if not (opts["image"] and opts["shards"] and opts["results_volume"]):
            raise click.UsageError("--kubernetes-profile-job needs --image, --shards and --results-volume")
        manifest = profile_job(
            int(opts["shards"]), str(opts["image"]), Volume.parse(str(opts["volume"])),
            Volume.parse(str(opts["results_volume"])), shlex.split(str(opts["profile_args"])), prefix,
        )  # fmt: skip
        write_atomic(job, to_yaml([manifest]))
        click.echo(f"wrote an Indexed Job of {opts['shards']} profiling pods to {job}")
    if directory is None:
        return
    gpus = read_plan_dir(directory)
    image = str(opts["image"] or DEFAULT_IMAGE)
    if kubernetes:
        objects = kubernetes_objects(gpus, image, Volume.parse(str(opts["volume"])), prefix)
        write_atomic(kubernetes, to_yaml(objects))
        click.echo(f"wrote {len(objects)} Kubernetes objects for {len(gpus)} GPUs to {kubernetes}")
    if compose:
        write_atomic(compose, to_yaml([compose_file(gpus, image, directory)]))
        click.echo(f"wrote a compose file with {len(gpus)} services to {compose}")


# ---- report -----------------------------------------------------------------------------------------


@cli.command()
@click.argument("plan_path", metavar="PLAN", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default="report.html",
    show_default=True,
    help="The HTML file to write; its PNGs go to OUTPUT_files/ beside it.",
)
@click.option(
    "--profiles",
    type=click.Path(path_type=Path),
    help="The profile the plan was made from.  [default: the one the plan's settings record, else the "
    "built-in example]",
)
@click.option(
    "--fleet",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The fleet file the plan was made from, for a mixed-fleet plan.  [default: the plan's settings]",
)
def report(plan_path: Path, output: Path, profiles: Path | None, fleet: Path | None) -> None:
    """Draw the HTML report of a plan: PLAN is a plan JSON or a --write-repositories directory.

    Figures: each model's profiled points (throughput against p99 latency) with the chosen point
    marked; each GPU's memory, GPU utilization and memory-controller utilization stacked by model
    against the limits; the plan against its lower bound; and where validation.json (written by
    `gpupack validate`) lies beside the plan, promised against measured throughput per model and GPU.
    """
    from packer.service import ReportRequest, run_report

    written = run_report(ReportRequest(plan=plan_path, output=output, profiles=profiles, fleet=fleet))
    click.echo(_wrote_report(written))


# ---- profile ----------------------------------------------------------------------------------------


def _batches(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``1,2,4`` -> (1, 2, 4): batch sizes, repeats dropped, order kept."""
    return int_list(value, 1, MAX_BATCH)


def _concurrencies(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    return int_list(value, 1, MAX_CONCURRENCY)


def _model_names(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    if not names:
        raise click.BadParameter("give at least one model name, e.g. --models identity,sleepy")
    return names


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    from profiler.measure.shards import Shard

    return None if value is None else Shard.parse(value)


def _gpu_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    return () if value is None else int_list(value, 0, MAX_GPU_INDEX)


def _shapes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple:
    from profiler.measure.inputs import parse_shape

    try:
        return tuple(parse_shape(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _measure_settings(opts: dict) -> object:
    """The measurement options (``--window`` ... ``--request-timeout``) of profile and validate."""
    from profiler.measure.loadgen import MeasureSettings

    try:
        return MeasureSettings(
            window_s=opts["window"],
            warmup_s=opts["warmup"],
            max_windows=opts["max_windows"],
            stability_pct=opts["stability"],
            **({"request_timeout_s": opts["request_timeout"]} if "request_timeout" in opts else {}),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _measure_options(warmup_help: str, every: str = "") -> tuple[Callable, ...]:
    """How long and how steadily to measure (profile, validate); ``every`` ends the stability help."""
    return (
        click.option(
            "--window",
            type=FiniteFloat(0, MAX_SECONDS, low_open=True),
            default=2.0,
            show_default=True,
            help="Measurement window, seconds.",
        ),
        click.option(
            "--warmup", type=FiniteFloat(0, MAX_SECONDS), default=2.0, show_default=True, help=warmup_help
        ),
        click.option(
            "--max-windows",
            type=BoundedInt(3, MAX_WINDOWS),
            default=10,
            show_default=True,
            help="Windows to try before recording a point as unstable.",
        ),
        click.option(
            "--stability",
            type=FiniteFloat(0, 100, low_open=True),
            default=10.0,
            show_default=True,
            help=f"Stable when 3 consecutive windows' throughputs lie within ± this % of their mean{every}.",
        ),
        click.option(
            "--sample-interval",
            type=BoundedInt(10, 60_000),
            default=100,
            show_default=True,
            help="GPU and process sampling interval, milliseconds.",
        ),
    )


class _ProfileProgress:
    """Prints the sweep's progress lines and notices on stderr."""

    def progress(self, event: object) -> None:
        from profiler.measure.report import progress_line

        click.echo(progress_line(event), err=True)  # type: ignore[arg-type]

    def notice(self, message: str) -> None:
        click.echo(f"note: {message}", err=True)


_PATH = click.Path(path_type=Path)


@configurable()
@cli.command()
@click.option(
    "--models",
    callback=_model_names,
    help="Comma-separated model names to profile.  [default, local mode: every model folder of "
    "--model-repository]",
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
    "--reload-per-batch/--no-reload-per-batch",
    default=True,
    show_default=True,
    help="Unload and load each model again before each new batch size, so that the memory a batch size "
    "takes (its first request, e.g. a CUDA graph capture, and the allocator's caches) is measured from a "
    "fresh load, as a server serving that batch size sees it. Off: one load per model (faster).",
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
@_options(_measure_options("Warm-up before the first window, seconds (built-in generator)."))
@click.option(
    "--request-timeout",
    type=FiniteFloat(0, MAX_SECONDS, low_open=True),
    default=120.0,
    show_default=True,
    help="Seconds a request may take: a model slower than this hangs, and its remaining points are "
    "recorded as failed (the server is restarted, the sweep goes on).",
)
@click.option(
    "--shard",
    callback=_shard,
    metavar="I/N",
    help="Profile only the I-th of N shards of the model list (0-based; every N-th model of the sorted "
    "list): N machines, GPUs or pods each take one, and `gpupack profile merge OUT SHARD...` joins them.",
)
@click.option(
    "--gpus",
    callback=_gpu_list,
    metavar="LIST",
    help="Local mode: profile in parallel on these GPUs (NVML indices, e.g. 0,1,2,3), one server each, "
    "shard i on the i-th; the shards go to OUTPUT/shards/ and their merge to OUTPUT.",
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
    143 on SIGTERM, 129 on SIGHUP. `gpupack profile merge OUT SHARD...` joins shard profiles.
    """
    from profiler.measure.report import profile_json, profile_report
    from profiler.measure.request import ProfileRequest
    from profiler.measure.run import run_profile
    from profiler.measure.shards import profile_in_parallel, repository_models

    settings = _measure_settings(opts)
    models = opts["models"]
    if not models and opts["model_repository"]:
        models = repository_models(opts["model_repository"])
    if opts["shard"] is not None:
        models = tuple(opts["shard"].models(models))
        if not models:
            click.echo(
                f"shard {opts['shard']} of {len(opts['models'] or ())} models: nothing to profile", err=True
            )
    request = ProfileRequest(
        models=models,
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
        reload_per_batch=opts["reload_per_batch"],
    )  # type: ignore[arg-type]
    if opts["gpus"]:
        if request.mode != "local" or opts["shard"] is not None:
            raise click.UsageError("--gpus runs shards of a local profile itself: drop --triton-url/--shard")
        merged, codes = profile_in_parallel(request, opts["gpus"])
        click.echo(
            profile_report(
                merged,
                f"{len(codes)} shards on GPUs {opts['gpus']} (exit codes {codes}); "
                f"profile in {request.output}",
            )
        )
        ctx.exit(max(codes) if all(c == codes[0] for c in codes) else 1)
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


@click.command("merge", cls=GpupackCommand)
@click.argument("output", type=_PATH)
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def profile_merge(output: Path, shards: tuple[Path, ...]) -> None:
    """Join shard profiles (`gpupack profile --shard I/N`) into OUTPUT: `gpupack profile merge OUT SHARD...`.

    Refused: shards measured on other GPU types, server versions or load generators, or a model in two
    shards. The server baseline is each resource's largest reading.
    """
    from profiler.base.files import exclusive, refuse_overlap
    from profiler.measure.shards import merge
    from profiler.profiles.profile_io import read_profile, write_profile

    refuse_overlap(output, {f"SHARD {k + 1}": s for k, s in enumerate(shards)}, "OUTPUT")
    merged = merge([read_profile(s) for s in shards])
    with exclusive(output):
        write_profile(merged, output)
    click.echo(
        f"merged {len(shards)} shards ({len(merged.models())} models, {len(merged.points)} points) "
        f"into {output}"
    )


# ---- serve and validate: a written plan on real servers --------------------------------------------

_SERVER_OPTIONS = (
    click.option(
        "--triton-server",
        type=_PATH,
        envvar="TRITONSERVER",
        help="The tritonserver binary.  [default: $TRITONSERVER, else tritonserver on PATH, else "
        "nvidia-pytriton's]",
    ),
    click.option(
        "--backend-python",
        type=_PATH,
        envvar="GPUPACK_BACKEND_PYTHON",
        help="The python3 whose packages the models import (needs numpy<2); its folder goes first on the "
        "server's PATH.  [default: $GPUPACK_BACKEND_PYTHON, else the Python running gpupack]",
    ),
    click.option(
        "--backend-directory",
        type=_PATH,
        help="The server's --backend-directory, used as is.  [default: a temporary copy of the server's, "
        "with the Python backend stub for --backend-python's version]",
    ),
)


@cli.command()
@click.argument("repository", type=click.Path(file_okay=False, path_type=Path))
@click.argument("server_args", nargs=-1, metavar="[-- TRITONSERVER_ARGS]...")
@click.option("--http-port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--grpc-port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=8002, show_default=True)
@click.option(
    "--gpu",
    type=click.IntRange(min=0),
    help="NVML index of the one GPU the server sees (CUDA_VISIBLE_DEVICES is set to its UUID).  "
    "[default: the environment's CUDA_VISIBLE_DEVICES]",
)
@_options(_SERVER_OPTIONS)
@click.option(
    "--model-control-mode",
    type=click.Choice(["none", "poll"]),
    default="none",
    show_default=True,
    help="none: load every model of REPOSITORY at start (a model that fails to load stops the server); "
    "poll: also load, reload and unload models as REPOSITORY changes.",
)
@click.option("--log-file", type=_PATH, help="Also append the server's log to this file.")
@click.option("--quiet", is_flag=True, help="Do not show the server's log on stdout.")
@click.option(
    "--start-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the server and every model to be ready.",
)
@click.pass_context
def serve(ctx: click.Context, **opts: object) -> None:
    """Serve a Triton model repository in the foreground, as a plan's launch-gpuN.sh does.

    Starts one tritonserver on REPOSITORY with fixed ports: the binary, the Python backend stub and a
    numpy<2 python3 first on the server's PATH, exactly as `gpupack profile` starts its own. Runs until
    Ctrl-C, SIGTERM or SIGHUP, then stops the server and exits 130, 143 or 129. Exit codes: 1 when the
    server fails to start (e.g. a model fails to load) or exits by itself, 2 for bad input.
    Arguments after -- go to tritonserver.
    """
    import sys

    from profiler.server.launcher import ServerPorts
    from profiler.server.serving import ServeRequest, Serving, serve

    def ready(serving: Serving) -> None:
        click.echo(serving.describe(), err=True)

    request = ServeRequest(
        repository=opts["repository"],
        ports=ServerPorts(opts["http_port"], opts["grpc_port"], opts["metrics_port"]),
        gpu=opts["gpu"],
        triton_server=opts["triton_server"],
        backend_python=opts["backend_python"],
        backend_directory=opts["backend_directory"],
        model_control_mode=opts["model_control_mode"],
        server_args=opts["server_args"],
        log_path=opts["log_file"],
        start_timeout_s=opts["start_timeout"],
    )  # type: ignore[arg-type]
    result = serve(request, ready, None if opts["quiet"] else sys.stdout)
    click.echo(f"stopped by {result.signal_name}; the server is down", err=True)
    ctx.exit(result.exit_code)


class _ValidationProgress:
    """Prints the validation's progress lines and notices on stderr."""

    def progress(self, event: object) -> None:
        from profiler.validation.report import progress_line

        e = event  # a profiler.validation.run.ValidationProgress
        click.echo(progress_line(e.done, e.total, e.gpus, e.elapsed_s, e.eta_s), err=True)  # type: ignore[attr-defined]

    def notice(self, message: str) -> None:
        click.echo(f"note: {message}", err=True)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--gpu",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="NVML index of the GPU that runs each planned GPU in turn, when they are validated one at a time.",
)
@click.option(
    "--all-at-once/--one-at-a-time",
    default=None,
    help="Run every planned GPU's server at once (planned GPU i on GPU i), or one after another on --gpu.  "
    "[default: all at once when NVML sees every planned GPU's index, else one at a time]",
)
@click.option(
    "--min-ratio",
    type=click.FloatRange(min=0, max=10, min_open=True),
    default=0.9,
    show_default=True,
    help="A model or GPU falls short below this fraction of its promised throughput.",
)
@click.option(
    "--load-generator",
    type=click.Choice(["builtin", "perf_analyzer"]),
    default="builtin",
    show_default=True,
    help="builtin: all models driven together in one asyncio loop with common windows; perf_analyzer: "
    "one perf_analyzer process per model, in parallel.",
)
@click.option(
    "--perf-analyzer", type=_PATH, help="The perf_analyzer binary.  [default: perf_analyzer on PATH]"
)
@_options(_SERVER_OPTIONS)
@click.option(
    "--shape",
    "shapes",
    multiple=True,
    callback=_shapes,
    help="NAME:D1,D2,... dims of an input with dynamic dims, without the batch dimension (repeatable).",
)
@_options(
    _measure_options(
        "Load before the first window, seconds (after each model's warm-up requests).", ", for every model"
    )
)
@click.option(
    "--start-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds to wait for a server and all its models to be ready.",
)
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

    settings = _measure_settings(opts)
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
        settings=settings,
        sample_interval_s=opts["sample_interval"] / 1000,
        start_timeout_s=opts["start_timeout"],
    )  # type: ignore[arg-type]
    result = run_validation(request, _ValidationProgress())
    if opts["as_json"]:
        click.echo(validation_json(result), nl=False)
    else:
        click.echo(validation_report(result, f"results in {request.directory / VALIDATION_JSON}"))
    if result.stopped_exit_code is not None:
        ctx.exit(result.stopped_exit_code)
    ctx.exit(0 if result.holds else 1)


def main() -> None:
    """Console-script entry point (``gpupack``)."""
    # gRPC's fork handlers serve programs whose forked children use gRPC; ours only exec tritonserver,
    # and with gRPC's threads running the handlers print "skipping fork() handlers" at every server
    # restart. Read once, when gRPC starts, so set before anything imports it.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    cli(prog_name="gpupack")


if __name__ == "__main__":
    main()
