"""``gpupack validate DIR`` as a function: deploy a written plan on real servers and measure what it delivers.

For each planned GPU, its server starts from ``DIR/gpu<i>`` exactly as its launch script starts it
(the shared launcher, model control ``none``: every model loaded at start; free ports here). With as
many GPUs as the plan has, all servers run at once, planned GPU i on GPU i; otherwise one at a time,
each on GPU ``--gpu``. Each model is warmed up at the largest batch size the plan sends it (first-request
allocations happen here, and count in the peak memory), then all the GPU's models (all GPUs' models,
at once) are driven together, each at its planned batch size and concurrency: the built-in generator
cuts common windows for all of them in one asyncio loop; perf_analyzer runs one process per model, in
parallel. A sampler per server reads NVML (or, without a GPU, the server's processes). The verdict
rules are in ``validation``, the work on a group of GPUs in ``validate_gpus``; the results are
rewritten to ``DIR/validation.json`` and ``.csv`` (atomically) after each GPU or group of GPUs.
"""

from __future__ import annotations

import time
from pathlib import Path

from profiler.base.errors import InputError
from profiler.base.signals import exit_code, handle_signals
from profiler.base.validation_file import write_validation
from profiler.measure.loadgen import BuiltinLoadGenerator
from profiler.measure.perf_analyzer import PerfAnalyzerEngine, find_perf_analyzer
from profiler.measure.stats import eta_seconds
from profiler.server.nvml import gpu_count
from profiler.validation.gpus import WARMUP_REQUESTS, GroupValidator
from profiler.validation.plan_file import Deployment, PlannedGpu, read_deployment
from profiler.validation.records import (
    GpuCheck,
    ValidateRequest,
    ValidationProgress,
    ValidationReporter,
    ValidationResult,
)
from profiler.validation.report import validation_csv, validation_json

_Group = list[tuple[PlannedGpu, int]]  # planned GPUs validated together, each with its physical GPU


def _groups(deployment: Deployment, request: ValidateRequest) -> tuple[list[_Group], str]:
    """GPUs validated together, each with the physical GPU it runs on, and the mode in words."""
    count = gpu_count()
    fits = all(g.index < count for g in deployment.gpus)
    at_once = fits if request.all_at_once is None else request.all_at_once
    if at_once and count and not fits:
        raise InputError(
            f"--all-at-once: the plan's GPUs {[g.index for g in deployment.gpus]} are not all among the "
            f"{count} GPU(s) NVML sees",
            "validate one GPU at a time (--one-at-a-time) on --gpu",
        )
    if at_once:
        return [[(g, g.index) for g in deployment.gpus]], "all at once (planned GPU i on GPU i)"
    return [[(g, request.gpu)] for g in deployment.gpus], f"one at a time on GPU {request.gpu}"


def _description(request: ValidateRequest) -> str:
    if request.load_generator == "builtin":
        return BuiltinLoadGenerator("").description
    engine = PerfAnalyzerEngine(find_perf_analyzer(request.perf_analyzer), "")
    engine.close()
    return engine.description + ", one process per model"


def _notes(request: ValidateRequest) -> tuple[str, ...]:
    s = request.settings
    return (
        f"each model warmed up with {WARMUP_REQUESTS} requests at its largest planned batch size, then all "
        f"models of a GPU driven at once; windows of {s.window_s:g} s after a {s.warmup_s:g} s warm-up, "
        f"stable when 3 agree within ±{s.stability_pct:g} % (at most {s.max_windows} windows)",
        f"resources sampled every {request.sample_interval_s * 1000:.0f} ms: memory maxima from the models' "
        "load on (warm-up and first requests included), utilizations over the measured windows",
    )


def run_validation(request: ValidateRequest, reporter: ValidationReporter) -> ValidationResult:
    """Validate the plan in ``request.directory``; the result is also written there.

    Raises:
        InputError: bad input (no plan, a model missing, a bad server binary or backend Python).

    """
    deployment = read_deployment(request.directory)
    groups, mode = _groups(deployment, request)
    run = GroupValidator(request, deployment, reporter)
    started = time.monotonic()
    checks: list[GpuCheck] = []
    stopped: int | None = None

    def result() -> ValidationResult:
        first = run.gpus_seen[0] if run.gpus_seen else None
        return ValidationResult(
            directory=str(request.directory),
            min_ratio=request.min_ratio,
            gpus=tuple(sorted(checks, key=lambda c: c.index)),
            mode=mode,
            device="gpu" if first else "cpu",
            gpu_name=first.name if first else "",
            load_generator=description,
            elapsed_s=time.monotonic() - started,
            stopped_exit_code=stopped,
            notes=_notes(request),
        )

    description = _description(request)
    # The result returned is the one last written, so what --json prints is validation.json.
    written: ValidationResult | None = None
    with handle_signals():
        try:
            for done, group in enumerate(groups, start=1):
                finished = run.run(group)
                checks += finished
                written = result()
                _write(written, request.directory)
                elapsed = time.monotonic() - started
                eta = eta_seconds(elapsed, done, len(groups))
                reporter.progress(ValidationProgress(done, len(groups), tuple(finished), elapsed, eta))
        except KeyboardInterrupt as interrupt:
            stopped = exit_code(interrupt)
            written = result()
            _write(written, request.directory)
    return written or result()


def _write(result: ValidationResult, directory: Path) -> None:
    write_validation(directory, validation_json(result), validation_csv(result))
