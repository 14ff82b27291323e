"""`gpupack profile` and `gpupack profile merge`: options → a ``ProfileRequest`` → the sweep → table or JSON.

``profile`` runs one sweep (``run_profile``, perhaps of one ``--shard`` of the models) or, with
``--gpus``, shards of it on local GPUs at once (``profile_in_parallel``), or, with ``--search``, a
search of each model's server config (``run_config_search``); ``ProfileJob`` holds which, and refuses
the combinations that make no sense.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from profiler.base.cli_config import configurable
from profiler.base.options import (
    MAX_SECONDS,
    PATH,
    FiniteFloat,
    GpupackCommand,
    defaulted_option,
)
from profiler.commands.options import (
    PERF_ANALYZER,
    SHAPE,
    GpuDevice,
    Progress,
    batches,
    concurrencies,
    gpu_list,
    load_generator,
    measure_options,
    measure_settings,
    sample_interval_s,
    search_options,
    server_options,
)
from profiler.commands.streaming import STREAMING_OPTIONS, profile_streaming, streaming_models

if TYPE_CHECKING:
    from profiler.measure.request import ProfileRequest, ProfileResult
    from profiler.measure.search_run import SearchRequest, SearchResult
    from profiler.measure.shards import Shard
    from profiler.measure.variants import VariantSpace

# The options that shape a config search; given without --search, a mistake.
SEARCH_ONLY = ("max_instances", "queue_delays_us", "max_batch_sizes", "preferred_batch_sizes", "targets")


@dataclass(frozen=True)
class ProfileJob:
    """A profile as asked: one sweep of ``request``, or shards of it on the local ``gpus`` at once."""

    request: ProfileRequest
    gpus: tuple[int, ...] = ()
    shard: Shard | None = None
    search: str | None = None
    space: VariantSpace | None = None
    targets: Path | None = None
    search_options_given: tuple[str, ...] = ()

    def conflict(self) -> str | None:
        """The first combination of options that makes no sense, in one line; ``None`` when they agree."""
        if self.gpus and (self.request.mode != "local" or self.shard is not None):
            return "--gpus runs shards of a local profile itself: drop --triton-url/--shard"
        if self.search is None and self.search_options_given:
            flags = ", ".join("--" + name.replace("_", "-") for name in self.search_options_given)
            return f"{flags}: only with --search brute|quick"
        if self.search is not None:
            if self.request.mode != "local":
                return (
                    "--search needs local mode (--model-repository): the server loads the variants it writes"
                )
            if self.gpus or self.shard is not None:
                return "--search runs one server on its own repository of variants: drop --gpus/--shard"
            if self.request.request_rates:
                return "--search measures concurrencies: drop --request-rate, or profile the chosen config"
        return None

    def search_request(self) -> SearchRequest:
        """The config search asked for; p99 bounds of ``targets`` for the models searched only."""
        from profiler.measure.latency_bounds import read_latency_bounds
        from profiler.measure.search_run import SearchRequest

        assert self.search is not None and self.space is not None  # checked by the caller
        bounds = read_latency_bounds(self.targets) if self.targets is not None else {}
        return SearchRequest(
            profile=self.request,
            mode=self.search,  # type: ignore[arg-type]
            space=self.space,
            latency_bounds_ms=tuple((m, b) for m, b in bounds.items() if m in self.request.models),
        )


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


def _models(opts: dict) -> tuple[str, ...]:
    """--models, else every model of --model-repository; only --shard's part of them."""
    from profiler.measure.shards import repository_models

    models = opts["models"]
    if not models and opts["model_repository"]:
        models = repository_models(opts["model_repository"])
    if opts["shard"] is not None:
        models = tuple(opts["shard"].models(models))
        if not models:
            click.echo(
                f"shard {opts['shard']} of {len(opts['models'] or ())} models: nothing to profile", err=True
            )
    return models


def _listed(opts: dict) -> tuple[str, ...]:
    """--models, else every model of --model-repository (all of them, whatever --shard says)."""
    from profiler.measure.shards import repository_models

    return opts["models"] or repository_models(opts["model_repository"])


def _job(opts: dict, given: tuple[str, ...] = ()) -> ProfileJob:
    from profiler.measure.request import ProfileRequest

    settings = measure_settings(opts)  # checked first, before the repository is listed
    request = ProfileRequest(
        models=_models(opts),
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
        sample_interval_s=sample_interval_s(opts),
        resume=opts["resume"],
        reload_per_batch=opts["reload_per_batch"],
        request_rates=opts["request_rate"] or (),
    )
    space = None
    if opts["search"] is not None:
        from profiler.measure.variants import VariantSpace

        space = VariantSpace(
            opts["max_instances"],
            opts["queue_delays_us"],
            opts["max_batch_sizes"],
            opts["preferred_batch_sizes"],
        )
    return ProfileJob(
        request,
        opts["gpus"],
        opts["shard"],
        opts["search"],
        space,
        opts["targets"],
        given,
    )


def _exit_code(result: ProfileResult) -> int:
    """0 when anything was measured (or was already), 1 when every point failed, 128+N on signal N."""
    outcome = result.outcome
    if outcome.interrupted:
        return 128 + (outcome.stop_signal or signal.SIGINT)
    return 1 if outcome.failed and not outcome.measured and not outcome.skipped else 0


def _given(ctx: click.Context) -> tuple[str, ...]:
    """The search-only options set anywhere but their defaults (command line, environment, config file)."""
    return tuple(
        name
        for name in SEARCH_ONLY
        if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
    )


def _searched(ctx: click.Context, job: ProfileJob, as_json: bool) -> None:
    """Run the config search, print its profile (table or JSON) and each model's best point; exit."""
    from profiler.measure.report import profile_json, profile_report, progress_line
    from profiler.measure.search_run import run_config_search

    result: SearchResult = run_config_search(job.search_request(), Progress(progress_line))  # type: ignore[arg-type]
    best = result.best_lines()
    if result.profile is None:
        click.echo(result.summary())
    elif as_json:
        summary = {"summary": result.summary(), "best": list(best), "notices": list(result.notices)}
        click.echo(profile_json(result.profile, summary))
    else:
        click.echo(profile_report(result.profile, "\n".join([*best, result.summary()])))
    if result.write_error is not None:
        raise result.write_error
    if result.interrupted:
        ctx.exit(128 + (result.stop_signal or signal.SIGINT))
    ctx.exit(1 if result.failed and not result.measured and not result.reused else 0)


def _in_parallel(ctx: click.Context, job: ProfileJob) -> None:
    from profiler.measure.report import profile_report
    from profiler.measure.shards import profile_in_parallel

    merged, codes = profile_in_parallel(job.request, job.gpus)
    where = f"profile in {job.request.output}"
    click.echo(
        profile_report(merged, f"{len(codes)} shards on GPUs {job.gpus} (exit codes {codes}); {where}")
    )
    ctx.exit(max(codes) if all(c == codes[0] for c in codes) else 1)


@configurable()
@click.command(cls=GpupackCommand)
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
    callback=batches,
    help="Batch sizes (samples per request), comma-separated.",
)
@click.option(
    "--concurrency",
    default="1",
    show_default=True,
    callback=concurrencies,
    help="Requests kept in flight, comma-separated.",
)
@click.option(
    "--output",
    "-o",
    type=PATH,
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
    type=PATH,
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
@SHAPE
@server_options(local_mode=True)
@defaulted_option(
    "--gpu",
    GpuDevice(),
    0,
    "Local mode: NVML index of the one GPU the server sees (CUDA_VISIBLE_DEVICES) and that is sampled, "
    "or a MIG device's UUID (MIG-..., nvidia-smi -L): NVML reports no utilization per MIG instance, so "
    "the utilization columns stay empty and the notes say so; memory is the instance's.",
)
@load_generator("builtin: gpupack's asyncio gRPC client; perf_analyzer: Triton's, to compare.")
@PERF_ANALYZER
@measure_options("Warm-up before the first window, seconds (built-in generator).")
@defaulted_option(
    "--request-timeout",
    FiniteFloat(0, MAX_SECONDS, low_open=True),
    120.0,
    "Seconds a request may take: a model slower than this hangs, and its remaining points are "
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
    callback=gpu_list,
    metavar="LIST",
    help="Local mode: profile in parallel on these GPUs (NVML indices, e.g. 0,1,2,3), one server each, "
    "shard i on the i-th; the shards go to OUTPUT/shards/ and their merge to OUTPUT.",
)
@search_options()
@STREAMING_OPTIONS
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON instead of the table.")
@click.pass_context
def profile(ctx: click.Context, **opts: object) -> None:
    """Measure models on a real Triton server, one model loaded at a time.

    For each model and each (batch, concurrency) point, and each (batch, --request-rate) point (open
    loop, Poisson arrivals; concurrency recorded as 0): throughput (infer/s), client latency
    p50/p90/p95/p99 (ms), and the maxima of GPU utilization, memory-controller utilization, SM
    activity (%), GPU memory (MB = 10^6 bytes, server included), server CPU (% of one core) and host
    memory (MB); plus the server alone, with no model loaded. The profile is rewritten after every
    point, so Ctrl-C keeps what finished and --resume goes on from there. A model that fails to
    load is recorded with its error and the sweep goes on; so does one that hangs or takes the server
    down (the server is restarted). Exit codes: 0 when anything was measured, 1 when every point
    failed, the server failed or the profile could not be written, 2 for bad input, 130 on Ctrl-C,
    143 on SIGTERM, 129 on SIGHUP. `gpupack profile merge OUT SHARD...` joins shard profiles.

    With --search brute|quick, each model's server config (instance count, dynamic batcher, max batch
    size) is searched too: each variant's points carry its variant columns, and the planner chooses
    among them (`gpupack plan --choose-points` or `--targets`).

    Decoupled (streaming, LLM) models are profiled over gRPC streaming instead (the --input-tokens ...
    --request-rate options): per point TTFT and inter-token latency p50/p90/p99, tokens/s, requests/s;
    per model its weights and memory per sequence in flight.
    """
    from profiler.measure.report import profile_json, profile_report, progress_line
    from profiler.measure.run import run_profile

    if opts["model_repository"] and streaming_models(opts, _listed(opts)):
        profile_streaming(ctx, opts, _listed(opts))
    job = _job(opts, _given(ctx))
    conflict = job.conflict()
    if conflict:
        raise click.UsageError(conflict)
    if job.search is not None:
        _searched(ctx, job, bool(opts["as_json"]))
    if job.gpus:
        _in_parallel(ctx, job)
    result = run_profile(job.request, Progress(progress_line))  # type: ignore[arg-type]
    if result.profile is None:
        click.echo(result.summary())
    elif opts["as_json"]:
        click.echo(
            profile_json(result.profile, {"summary": result.summary(), "notices": list(result.notices)})
        )
    else:
        click.echo(profile_report(result.profile, result.summary()))
    if result.outcome.write_error is not None:
        raise result.outcome.write_error
    ctx.exit(_exit_code(result))


@click.command("merge", cls=GpupackCommand)
@click.argument("output", type=PATH)
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
