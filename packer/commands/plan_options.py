"""The options of `gpupack plan`, in three groups: the plain problem, the generalized one, the output.

Values are parsed and bounds-checked here (click types and callbacks); combinations of options are
checked by ``packer.commands.plan.PlanOptions``.
"""

from __future__ import annotations

import click

from profiler import (
    DIRECTORY,
    FILE,
    MAX_BATCH,
    MAX_CONCURRENCY,
    MAX_GPUS,
    MAX_MEMORY_MB,
    MAX_SEED,
    MAX_THRESHOLD_PCT,
    MAX_TIME_LIMIT_S,
    MAX_WORKERS,
    PATH,
    BoundedInt,
    FiniteFloat,
    defaulted_option,
    option_group,
)


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
PERCENT = FiniteFloat(0, MAX_THRESHOLD_PCT, low_open=True)


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


HEADROOM = FiniteFloat(0, 100, high_open=True)


GENERALIZED_OPTIONS = option_group(
    click.option(
        "--choose-points",
        is_flag=True,
        help="Choose each model's profiled point (batch size, concurrency, instances) jointly with the "
        "placement: fewest GPUs (or lowest cost), ties to the highest total throughput. --batch and "
        "--concurrency then only narrow the candidates.",
    ),
    click.option(
        "--targets",
        type=FILE,
        metavar="FILE",
        help="Throughput targets, YAML (model: infer/s, or model: {throughput: infer/s, "
        "max_latency_p99_ms: ms}) or CSV (model,throughput[,max_latency_p99_ms]). Places as many "
        "replicas as each target needs (one profiled point on one GPU each, at most one per model per "
        "GPU); points above a p99 bound are never used; models not listed run once. Packs GPU and "
        "memory-controller utilization too, whatever --objective. A streaming (LLM) model may ask for "
        "output tokens/s instead, with TTFT and ITL bounds: {tokens_per_s: N, max_ttft_p99_ms: ms, "
        "max_itl_p99_ms: ms}.",
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
        type=FILE,
        help="Mixed fleet, YAML: GPU types (name, memory, count, cost_per_hour, profile) and optional "
        "rules; see examples/fleet.yaml. Replaces --profiles and --gpu-memory.",
    ),
    click.option(
        "--mig",
        metavar="PRODUCT",
        help="The GPUs may be cut into MIG slices of PRODUCT (A100-40GB, A100-80GB, H100-80GB, "
        "H200-141GB): each GPU is planned whole or as a valid layout of slices, models on slices. "
        "Without --fleet (a fleet type says mig: PRODUCT).",
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
        type=HEADROOM,
        metavar="PCT",
        help="Keep PCT % of every packed resource of every GPU free: usage ≤ min(threshold, 100 − PCT) %. "
        "Default 0; overrides the fleet file's.",
    ),
    click.option(
        "--interference",
        multiple=True,
        type=FILE,
        metavar="FILE",
        help="validation.json written by `gpupack validate` (repeatable): each model that ran slower "
        "beside others than promised counts its GPU and memory-controller utilization times that "
        "slowdown (promised / measured infer/s, the worst run; on a GPU planned above 100 % utilization, "
        "beyond its time share 100/U), and the models of a GPU that fell short without being "
        "oversubscribed are kept apart, so a re-plan keeps its promises. "
        "Needs --objective throughput or --targets.",
    ),
    click.option(
        "--colocation/--no-colocation",
        default=True,
        help="Predict what models sharing a GPU lose beside each other, from their profiled GPU "
        "utilization and concurrency (packer.colocation), and share a GPU only while every model on it "
        "keeps --colocation-min-ratio of its profiled throughput; each shared model's plan entry then "
        "promises its profiled infer/s × that predicted ratio (expected_throughput), which is what "
        "`gpupack validate` holds it to. Default on; applies with --objective throughput or --targets "
        "to profiles that measure GPU utilization (not to MIG slices). --no-colocation: summed "
        "utilization alone decides.",
    ),
    click.option(
        "--colocation-min-ratio",
        type=FiniteFloat(0, 1, low_open=True),
        metavar="RATIO",
        help="The least predicted measured / profiled throughput (0–1) a model may run at beside others "
        "(and within its p99 bound, which grows as 1/ratio). Default 0.9.",
    ),
)


OUTPUT_OPTIONS = option_group(
    click.option(
        "--report",
        type=FILE,
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


# The plain problem: one profile, one kind of GPU, one point per model.
PLAN_OPTIONS = option_group(
    click.option(
        "--profiles",
        type=PATH,
        help="Profile to plan: a directory or profile.csv written by `gpupack profile`; Model Analyzer 1.x "
        "output (a checkpoint N.ckpt, metrics-model-inference.csv, or a directory holding either: every "
        "config variant is a candidate point); or the 2020 export (metrics-model.csv). Default: the "
        "built-in example, the nine medical models of NVIDIA's Model Analyzer blog on 16 GB GPUs.",
    ),
    defaulted_option(
        "--objective",
        click.Choice(["min-gpus", "throughput"]),
        "min-gpus",
        "min-gpus: fewest GPUs by GPU memory alone. throughput: fewest GPUs with the sums of GPU "
        "utilization, memory-controller utilization and GPU memory all under their thresholds, so no model "
        "loses throughput; ties go to the plan with the lowest peak utilization.",
    ),
    click.option(
        "--gpu-memory",
        type=MemorySize(),
        help="Memory of one GPU: 16GB (=16000 MB), 16GiB, 16000MB (plain numbers are MB). "
        "Default: the GPU the profile was measured on.",
    ),
    defaulted_option("--max-memory", PERCENT, 100.0, "Threshold on each GPU's memory, % of --gpu-memory."),
    click.option(
        "--max-gpu-util",
        type=PERCENT,
        help="Threshold on the sum of GPU utilization % per GPU (throughput only; default 100).",
    ),
    click.option(
        "--max-mem-util",
        type=PERCENT,
        help="Threshold on the sum of memory-controller utilization % per GPU (throughput only; "
        "default 100).",
    ),
    click.option(
        "--batch", type=BoundedInt(1, MAX_BATCH), help="Use each model's profiled point at this batch size."
    ),
    click.option(
        "--concurrency",
        type=BoundedInt(1, MAX_CONCURRENCY),
        help="Use each model's profiled point at this concurrency. Without --batch/--concurrency: the "
        "point the profile marks selected, else the highest-throughput point that fits on one GPU.",
    ),
    defaulted_option(
        "--time-limit",
        FiniteFloat(0, MAX_TIME_LIMIT_S, low_open=True),
        10.0,
        "Time limit of the whole command, seconds: reading, solving, checking and writing the plan. "
        "It sizes the solver's work budget, so a rerun gives the same plan; if the clock runs out first, "
        "the best plan found is returned with its gap and a note that a rerun may differ.",
    ),
    defaulted_option(
        "--workers",
        BoundedInt(0, MAX_WORKERS),
        0,
        "CP-SAT threads (0 = 4 on any machine).",
    ),
    defaulted_option("--seed", BoundedInt(-MAX_SEED - 1, MAX_SEED), 0, "Solver random seed."),
    click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON instead of the table."),
    click.option("--output", type=FILE, help="Also write the plan JSON here."),
    click.option(
        "--model-repository",
        type=DIRECTORY,
        help="Triton model repository holding the planned models (with --write-repositories).",
    ),
    click.option(
        "--write-repositories",
        type=DIRECTORY,
        help="Write one model repository per GPU (DIR/gpu0, ...), launch scripts and plan.json; "
        "DIR must not exist or be empty.",
    ),
    defaulted_option(
        "--base-port",
        BoundedInt(1, 65535),
        8000,
        "GPU i's server listens on HTTP base+3i, gRPC base+3i+1, metrics base+3i+2.",
    ),
)
