"""``gpupack validate DIR`` as a function: deploy a written plan on real servers and measure what it delivers.

For each planned GPU, its server starts from ``DIR/gpu<i>`` exactly as its launch script starts it
(the shared launcher, model control ``none``: every model loaded at start; free ports here). With as
many GPUs as the plan has, all servers run at once, planned GPU i on GPU i; otherwise one at a time,
each on GPU ``--gpu``. Each model is warmed up at the largest batch size the plan sends it (first-request
allocations happen here, and count in the peak memory), then all the GPU's models (all GPUs' models,
at once) are driven together, each at its planned batch size and concurrency: the built-in generator
cuts common windows for all of them in one asyncio loop; perf_analyzer runs one process per model, in
parallel. A sampler per server reads NVML (or, without a GPU, the server's processes). The verdict
rules are in ``validation``; the results are rewritten to ``DIR/validation.json`` and ``.csv``
(atomically) after each GPU or group of GPUs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from profiler.errors import GpupackError, InputError
from profiler.inputs import InputSpec, input_specs
from profiler.launcher import LocalServer, LocalServerSettings
from profiler.loadgen import (
    BuiltinLoadGenerator,
    Load,
    Measurement,
    MeasureSettings,
    infer_inputs,
    inference_error,
    measure_loads,
)
from profiler.nvml import GpuInfo, NvmlGpuSource, NvmlUnavailable, close_nvml, gpu_count, open_gpu
from profiler.perf_analyzer import PerfAnalyzerEngine, find_perf_analyzer, pytriton_library_dirs
from profiler.plan_file import Deployment, PlannedGpu, read_deployment
from profiler.procfs import TreeUsage
from profiler.profile_io import write_atomic
from profiler.request import LoadGenerator
from profiler.sampler import DEFAULT_INTERVAL_S, Sampler
from profiler.server_install import describe_install, find_tritonserver
from profiler.serving import SERVE_START_TIMEOUT_S
from profiler.signals import exit_code_of, stop_signals_raise
from profiler.stats import eta_seconds
from profiler.triton import TritonControl
from profiler.validation import DEFAULT_MIN_RATIO, GpuCheck, ModelCheck, ValidationResult
from profiler.validation_report import VALIDATION_CSV, VALIDATION_JSON, validation_csv, validation_json

# Requests per model before measuring, at its largest planned batch: the first one allocates
# (workspaces, CUDA graphs, cuDNN autotuning), the second shows the steady state is reached.
WARMUP_REQUESTS = 2


@dataclass(frozen=True)
class ValidateRequest:
    """Everything ``gpupack validate`` was asked."""

    directory: Path
    gpu: int = 0
    min_ratio: float = DEFAULT_MIN_RATIO
    all_at_once: bool | None = None  # None: when the host has as many GPUs as the plan
    load_generator: LoadGenerator = "builtin"
    perf_analyzer: Path | None = None
    triton_server: Path | None = None
    backend_python: Path | None = None
    backend_directory: Path | None = None
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    sample_interval_s: float = DEFAULT_INTERVAL_S
    start_timeout_s: float = SERVE_START_TIMEOUT_S

    def __post_init__(self) -> None:
        if not 0 < self.min_ratio <= 10:
            raise InputError(f"--min-ratio must be within (0, 10], got {self.min_ratio}")
        if not self.sample_interval_s > 0:
            raise InputError("--sample-interval must be positive")


@dataclass(frozen=True)
class ValidationProgress:
    """A GPU, or a group of GPUs validated at once, is done."""

    done: int
    total: int
    gpus: tuple[GpuCheck, ...]
    elapsed_s: float
    eta_s: float | None


class ValidationReporter(Protocol):
    """Where the validation tells how it goes (the CLI prints to stderr)."""

    def progress(self, event: ValidationProgress) -> None:
        """A GPU (or group) is done."""

    def notice(self, message: str) -> None:
        """Something the user should know, said once."""


@dataclass
class _Served:
    """A planned GPU whose server is up: its sampler, when its models were loaded, their inputs."""

    planned: PlannedGpu
    device: str
    gpu: GpuInfo | None
    server: LocalServer
    sampler: Sampler
    loaded_at: float
    specs: dict[str, tuple[InputSpec, ...]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class _Validation:
    """One run: opens servers group by group, drives them, collects the checks."""

    def __init__(
        self, request: ValidateRequest, deployment: Deployment, reporter: ValidationReporter
    ) -> None:
        self.request = request
        self.deployment = deployment
        self.reporter = reporter
        self.gpus_seen: list[GpuInfo] = []
        self.nvml_notice = False

    def group(self, group: Sequence[tuple[PlannedGpu, int]]) -> list[GpuCheck]:
        """Start the group's servers, warm every model up, drive them all at once, stop the servers."""
        checks: list[GpuCheck] = []
        with contextlib.ExitStack() as stack:
            served = []
            for planned, physical in group:
                gpu = self._open_gpu(stack, physical)
                device = gpu.uuid if gpu else str(physical)
                try:
                    served.append(self._start(stack, planned, device, gpu))
                except InputError:
                    raise
                except GpupackError as exc:
                    checks.append(_failed(planned, device, gpu, exc.message))
            for one in served:
                self._warm_up(one)
            measurements = self._drive(served)
            checks += [_check(one, measurements) for one in served]
        return sorted(checks, key=lambda c: c.index)

    def _open_gpu(self, stack: contextlib.ExitStack, physical: int) -> GpuInfo | None:
        try:
            gpu = open_gpu(physical)
        except NvmlUnavailable as exc:
            if not self.nvml_notice:
                self.nvml_notice = True
                self.reporter.notice(f"no GPU readings: {exc}; recording the servers' CPU and memory instead")
            return None
        stack.callback(close_nvml)
        self.gpus_seen.append(gpu)
        return gpu

    def _start(
        self, stack: contextlib.ExitStack, planned: PlannedGpu, device: str, gpu: GpuInfo | None
    ) -> _Served:
        r = self.request
        self.reporter.notice(
            f"GPU {planned.index}: starting its server on {self.deployment.repository(planned.index)} "
            f"(CUDA_VISIBLE_DEVICES={device}; models {', '.join(m.name for m in planned.models)})"
        )
        settings = LocalServerSettings(
            model_repository=self.deployment.repository(planned.index),
            triton_server=r.triton_server,
            backend_python=r.backend_python,
            backend_directory=r.backend_directory,
            cuda_visible_devices=device,
            log_path=r.directory / f"validation-gpu{planned.index}.log",
            start_timeout_s=r.start_timeout_s,
            model_control_mode="none",
        )
        server = stack.enter_context(LocalServer(settings))
        source = NvmlGpuSource(gpu) if gpu else None
        sampler = stack.enter_context(Sampler(source, TreeUsage(server.pid), r.sample_interval_s))
        return _Served(planned, device, gpu, server, sampler, sampler.now())

    def _warm_up(self, served: _Served) -> None:
        """Each model: a few requests at its largest planned batch (and at its own), then its inputs."""
        url = served.server.endpoints.grpc
        timeout = self.request.settings.request_timeout_s
        shapes = dict(self.request.shapes)
        with TritonControl(url) as control, grpcclient.InferenceServerClient(url) as client:
            for model in served.planned.models:
                try:
                    config = control.model_config(model.name)
                    for batch in dict.fromkeys((self.deployment.largest_batch(model.name), model.batch_size)):
                        inputs = infer_inputs(input_specs(model.name, config, batch, shapes))
                        for _ in range(WARMUP_REQUESTS):
                            client.infer(model.name, inputs, client_timeout=timeout)
                    served.specs[model.name] = input_specs(model.name, config, model.batch_size, shapes)
                except InferenceServerException as exc:
                    served.errors[model.name] = "warm-up " + inference_error(exc)
                except GpupackError as exc:
                    served.errors[model.name] = exc.message

    def _drive(self, served: Sequence[_Served]) -> dict[tuple[int, str], Measurement]:
        """Every warmed-up model of every served GPU at once; measurements by (GPU index, model)."""
        keys, loads = [], []
        for one in served:
            for model in one.planned.models:
                if model.name in one.specs:
                    keys.append((one.planned.index, model.name))
                    url = one.server.endpoints.grpc
                    loads.append(Load(url, model.name, one.specs[model.name], model.concurrency))
        if not loads:
            return {}
        if self.request.load_generator == "builtin":
            return dict(zip(keys, measure_loads(loads, self.request.settings), strict=True))
        return dict(zip(keys, self._perf_analyzer(loads), strict=True))

    def _perf_analyzer(self, loads: Sequence[Load]) -> list[Measurement]:
        """One perf_analyzer process per load, all in parallel."""
        binary = find_perf_analyzer(self.request.perf_analyzer)
        libraries = describe_install(find_tritonserver(self.request.triton_server)).libraries
        engines = [PerfAnalyzerEngine(binary, load.url, pytriton_library_dirs(libraries)) for load in loads]
        settings = self.request.settings
        try:
            with ThreadPoolExecutor(max_workers=len(loads)) as pool:
                runs = [
                    pool.submit(engine.measure, load.model, load.specs, load.concurrency, settings)
                    for engine, load in zip(engines, loads, strict=True)
                ]
                return [run.result() for run in runs]
        finally:
            for engine in engines:
                engine.close()


def _failed(planned: PlannedGpu, device: str, gpu: GpuInfo | None, error: str) -> GpuCheck:
    models = tuple(
        ModelCheck(m.name, m.batch_size, m.concurrency, m.throughput, error="server did not start")
        for m in planned.models
    )
    reserved = gpu.reserved_memory_mb if gpu else None
    return GpuCheck(
        planned.index, device, planned.memory_mb, models, reserved_memory_mb=reserved, error=error
    )


def _check(served: _Served, measurements: dict[tuple[int, str], Measurement]) -> GpuCheck:
    planned = served.planned
    models, starts, ends = [], [], []
    for m in planned.models:
        measured = measurements.get((planned.index, m.name))
        error = served.errors.get(m.name) or (measured.error if measured else "not measured")
        if measured and not measured.error:
            starts.append(measured.start)
            ends.append(measured.end)
        ok = measured is not None and not error
        models.append(
            ModelCheck(
                m.name, m.batch_size, m.concurrency, m.throughput,
                measured_throughput=measured.throughput if ok else None,
                p50_ms=measured.latency_p50_ms if ok else None,
                p99_ms=measured.latency_p99_ms if ok else None,
                stable=measured.stable if ok else False,
                failed_requests=measured.failed_requests if measured else 0,
                error=error,
            )
        )  # fmt: skip
    now = served.sampler.now()
    use = served.sampler.use(min(starts, default=served.loaded_at), max(ends, default=now), served.loaded_at)
    reserved = served.gpu.reserved_memory_mb if served.gpu else None
    return GpuCheck(planned.index, served.device, planned.memory_mb, tuple(models), use, reserved)


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
    run = _Validation(request, deployment, reporter)
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
    with stop_signals_raise():
        try:
            for done, group in enumerate(groups, start=1):
                finished = run.group(group)
                checks += finished
                _write(result(), request.directory)
                elapsed = time.monotonic() - started
                eta = eta_seconds(elapsed, done, len(groups))
                reporter.progress(ValidationProgress(done, len(groups), tuple(finished), elapsed, eta))
        except KeyboardInterrupt as interrupt:
            stopped = exit_code_of(interrupt)
            _write(result(), request.directory)
    return result()


def _write(result: ValidationResult, directory: Path) -> None:
    write_atomic(directory / VALIDATION_JSON, validation_json(result))
    write_atomic(directory / VALIDATION_CSV, validation_csv(result))
