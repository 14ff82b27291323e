"""Validating planned GPUs together: start their servers, warm their models up, drive them, check them.

``GroupValidator.run`` handles one group of planned GPUs that run at the same time (all of them, or one
at a time): each server starts from its repository with model control ``none`` (every model loaded at
start, as its launch script does), a sampler watches it (NVML, else its processes), each model gets
``WARMUP_REQUESTS`` at the largest batch size the plan gives it, then every model of the group is
driven at once at its planned point, and each GPU's ``GpuCheck`` is built from what was measured.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from profiler.base import signals
from profiler.base.errors import GpupackError, InputError
from profiler.measure.inputs import InputSpec, input_specs
from profiler.measure.loadgen import (
    Load,
    Measurement,
    MeasureSettings,
    infer_inputs,
    inference_error,
    measure_loads_async,
)
from profiler.measure.perf_analyzer import PerfAnalyzerEngine, find_perf_analyzer, pytriton_library_dirs
from profiler.measure.sampler import Sampler
from profiler.measure.streaming.driver import StreamLoad, StreamMeasurement, measure_stream_async
from profiler.measure.streaming.formats import TensorValue
from profiler.server.install import describe_install, find_tritonserver
from profiler.server.launcher import LocalServer, LocalServerSettings
from profiler.server.nvml import GpuInfo, NoSuchGpu, NvmlGpuSource, NvmlUnavailable, close_nvml, open_gpu
from profiler.server.procfs import TreeUsage
from profiler.server.triton import TritonControl
from profiler.validation.plan_file import Deployment, PlannedGpu
from profiler.validation.records import GpuCheck, ModelCheck, ValidateRequest, ValidationReporter
from profiler.validation.streams import stream_check, stream_requests, stream_settings

# Requests per model before measuring, at its largest planned batch: the first one allocates
# (workspaces, CUDA graphs, cuDNN autotuning), the second shows the steady state is reached.
WARMUP_REQUESTS = 2


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
    # Streaming models: their requests (the stream's own warm-up replaces the classic one).
    streams: dict[str, tuple[tuple[TensorValue, ...], ...]] = field(default_factory=dict)


class GroupValidator:
    """Validates groups of planned GPUs, one group after another; remembers the GPUs NVML described."""

    def __init__(
        self, request: ValidateRequest, deployment: Deployment, reporter: ValidationReporter
    ) -> None:
        self.request = request
        self.deployment = deployment
        self.reporter = reporter
        self.gpus_seen: list[GpuInfo] = []
        self.nvml_notice = False

    def run(self, group: Sequence[tuple[PlannedGpu, int]]) -> list[GpuCheck]:
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
        except NoSuchGpu as exc:
            raise InputError(f"--gpu {physical}: {exc}") from None
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
                    if model.streaming:
                        served.streams[model.name] = stream_requests(model, config)
                        continue
                    for batch in dict.fromkeys((self.deployment.largest_batch(model.name), model.batch_size)):
                        inputs = infer_inputs(input_specs(model.name, config, batch, shapes))
                        for _ in range(WARMUP_REQUESTS):
                            client.infer(model.name, inputs, client_timeout=timeout)
                    served.specs[model.name] = input_specs(model.name, config, model.batch_size, shapes)
                except InferenceServerException as exc:
                    served.errors[model.name] = "warm-up " + inference_error(exc)
                except GpupackError as exc:
                    served.errors[model.name] = exc.message

    def _drive(self, served: Sequence[_Served]) -> dict[tuple[int, str], Measurement | StreamMeasurement]:
        """Every warmed-up model of every served GPU at once; measurements by (GPU index, model).

        Streaming models run on their own gRPC streams in the classic loads' event loop.
        """
        keys, loads, streams = [], [], {}
        for one in served:
            url = one.server.endpoints.grpc
            for model in one.planned.models:
                if model.name in one.specs:
                    keys.append((one.planned.index, model.name))
                    specs = one.specs[model.name]
                    loads.append(Load(url, model.name, specs, model.concurrency, model.request_rate))
                elif model.name in one.streams:
                    streams_of = one.streams[model.name]
                    load = StreamLoad(url, model.name, streams_of, model.concurrency, model.request_rate)
                    streams[one.planned.index, model.name] = load
        results: dict[tuple[int, str], Measurement | StreamMeasurement] = {}
        builtin = self.request.load_generator == "builtin"
        with ThreadPoolExecutor(max_workers=1) as pool:  # perf_analyzer's processes beside the streams
            external = pool.submit(self._perf_analyzer, loads) if loads and not builtin else None
            ours = loads if builtin else []
            if ours or streams:
                with signals.deferred():  # leaving it raises a stop signal that arrived
                    together = _together(ours, self.request.settings, list(streams.values()))
                    classic, measured = asyncio.run(together)
                results.update(zip(keys if ours else [], classic, strict=True))
                results.update(zip(streams, measured, strict=True))
            if external is not None:
                results.update(zip(keys, external.result(), strict=True))
        return results

    def _perf_analyzer(self, loads: Sequence[Load]) -> list[Measurement]:
        """One perf_analyzer process per load, all in parallel."""
        binary = find_perf_analyzer(self.request.perf_analyzer)
        libraries = describe_install(find_tritonserver(self.request.triton_server)).libraries
        engines = [PerfAnalyzerEngine(binary, load.url, pytriton_library_dirs(libraries)) for load in loads]
        settings = self.request.settings
        try:
            with ThreadPoolExecutor(max_workers=len(loads)) as pool:
                runs = [
                    pool.submit(
                        engine.measure, load.model, load.specs, load.concurrency, settings, load.request_rate
                    )
                    for engine, load in zip(engines, loads, strict=True)
                ]
                return [run.result() for run in runs]
        finally:
            for engine in engines:
                engine.close()


async def _together(
    loads: Sequence[Load], settings: MeasureSettings, streams: Sequence[StreamLoad]
) -> tuple[tuple[Measurement, ...], list[StreamMeasurement]]:
    """The classic loads and the streams at once, in one event loop (as gRPC's asyncio client wants)."""
    stream = stream_settings(settings)
    classic = measure_loads_async(loads, settings) if loads else asyncio.sleep(0, result=())
    results = await asyncio.gather(classic, *(measure_stream_async(load, stream) for load in streams))
    return results[0], list(results[1:])


def _failed(planned: PlannedGpu, device: str, gpu: GpuInfo | None, error: str) -> GpuCheck:
    models = tuple(
        ModelCheck(
            m.name,
            m.batch_size,
            m.concurrency,
            m.throughput,
            error="server did not start",
            request_rate=m.request_rate,
        )
        for m in planned.models
    )
    reserved = gpu.reserved_memory_mb if gpu else None
    return GpuCheck(
        planned.index,
        device,
        planned.memory_mb,
        models,
        reserved_memory_mb=reserved,
        error=error,
        planned_gpu_util_pct=planned.gpu_util_pct,
    )


def _check(served: _Served, measurements: dict[tuple[int, str], Measurement | StreamMeasurement]) -> GpuCheck:
    planned = served.planned
    models, starts, ends = [], [], []
    for m in planned.models:
        measured = measurements.get((planned.index, m.name))
        if isinstance(measured, StreamMeasurement) or m.streaming:
            check, window = stream_check(m, measured, served.errors.get(m.name, ""))
            models.append(check)
            if window:
                starts.append(window[0])
                ends.append(window[1])
            continue
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
                request_rate=m.request_rate,
            )
        )  # fmt: skip
    now = served.sampler.now()
    use = served.sampler.use(min(starts, default=served.loaded_at), max(ends, default=now), served.loaded_at)
    reserved = served.gpu.reserved_memory_mb if served.gpu else None
    return GpuCheck(
        planned.index,
        served.device,
        planned.memory_mb,
        tuple(models),
        use,
        reserved,
        planned_gpu_util_pct=planned.gpu_util_pct,
    )
