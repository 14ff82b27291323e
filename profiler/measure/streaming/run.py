"""Profile streaming (LLM) models into a gpupack profile directory, without the CLI.

``run_streaming_profile(request, reporter)`` starts a tritonserver of its own on the repository,
measures the server alone (the baseline), then per model: load it, hold still for ``WEIGHTS_S`` (the
memory after load, before traffic, less the baseline, is ``weights_mb``), measure each concurrency and
request-rate point over gRPC streaming (``driver``), fit memory per sequence in flight over the
concurrency points (``tokens.fit_memory``: ``kv_mb_per_sequence``), unload. The profile is rewritten
after every point, so an interrupt keeps what was measured.

A point's row: ``throughput_infer_per_sec`` is requests/s and ``latency_pXX_ms`` the request latency
(send to final response), so a streaming model plans like any other; beside them TTFT and ITL
percentiles, output tokens/s, the mean token lengths, and the model's weights and memory per
sequence (the same in each of its rows). Memory is the GPU's (per-process NVML memory where there is
one, else the device's) or, on a host without NVML, the resident memory of the server's process
tree. An engine that reserves its KV cache when it loads (vLLM's ``gpu_memory_utilization``,
TensorRT-LLM's ``kv_cache_free_gpu_mem_fraction``) shows its reservation as weights and ~0 per
sequence: that is what it takes, not what its sequences need.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from datetime import datetime, timezone
from importlib import metadata as package_metadata

from tritonclient.grpc import model_config_pb2

from profiler.base import signals
from profiler.base.errors import InputError
from profiler.base.files import ensure_directory, exclusive, refuse_overlap
from profiler.measure.inputs import instance_count
from profiler.measure.sampler import ResourceUse, Sampler
from profiler.measure.stats import eta_seconds
from profiler.measure.streaming.driver import StreamLoad, StreamMeasurement, measure_stream
from profiler.measure.streaming.formats import (
    RequestFormat,
    TensorValue,
    detect_format,
    synthetic_requests,
)
from profiler.measure.streaming.request import (
    StreamingProfileRequest,
    StreamingProfileResult,
    check_request,
)
from profiler.measure.streaming.tokens import MemoryFit, fit_memory, summarize_stream
from profiler.measure.sweep import Progress, Reporter
from profiler.profiles.profile_io import write_profile
from profiler.profiles.schema import PROFILE_CSV, Profile, ProfileMetadata, ProfilePoint, ServerBaseline
from profiler.server.launcher import LocalServer, LocalServerSettings
from profiler.server.nvml import GpuInfo, NvmlGpuSource, NvmlUnavailable, close_nvml, open_gpu
from profiler.server.procfs import TreeUsage
from profiler.server.triton import ModelLoadError, TritonControl

# The server alone, and a model loaded but idle: long enough for ~10 samples at the default interval.
BASELINE_S = 1.0
WEIGHTS_S = 1.0
# Distinct synthetic prompts per model, sent in turn (seeded: a rerun sends the same ones).
PROMPTS = 32
# A point's percentiles come from at least this many complete requests, or it is marked unstable.
MIN_STABLE_REQUESTS = 3
SERVER_LOG = "tritonserver.log"


def _memory(use: ResourceUse) -> float | None:
    """The memory a point is planned with: the GPU's (per process where known), else the host's."""
    for value in (use.process_memory_mb, use.memory_mb, use.host_memory_mb):
        if value is not None:
            return value
    return None


class _Run:
    """One run's server, sampler and profile so far."""

    def __init__(self, request: StreamingProfileRequest, reporter: Reporter) -> None:
        self.request = request
        self.reporter = reporter
        self.notices: list[str] = []
        self.points: list[ProfilePoint] = []
        self.fits: dict[str, MemoryFit | None] = {}
        self.started = time.monotonic()
        self.total = len(request.models) * (len(request.concurrencies) + len(request.request_rates))
        self.done = 0

    def notice(self, message: str) -> None:
        self.notices.append(message)
        self.reporter.notice(message)

    def open(self, stack: contextlib.ExitStack) -> None:
        """Start the server on the GPU NVML describes (or none, with a notice) and the sampler."""
        r = self.request
        self.gpu = self._open_gpu(stack)
        settings = LocalServerSettings(
            model_repository=r.model_repository,
            triton_server=r.triton_server,
            backend_python=r.backend_python,
            backend_directory=r.backend_directory,
            cuda_visible_devices=self.gpu.uuid if self.gpu else None,
            log_path=r.output / SERVER_LOG,
        )
        self.server = stack.enter_context(LocalServer(settings))
        self.control = stack.enter_context(TritonControl(self.server.endpoints.grpc))
        source = NvmlGpuSource(self.gpu) if self.gpu else None
        self.sampler = stack.enter_context(Sampler(source, TreeUsage(self.server.pid), r.sample_interval_s))
        self.metadata = self._metadata(self.control.server_version())
        self.baseline = ServerBaseline(**dataclasses.asdict(self._idle(BASELINE_S)))

    def _open_gpu(self, stack: contextlib.ExitStack) -> GpuInfo | None:
        try:
            gpu = open_gpu(self.request.gpu)
        except NvmlUnavailable as exc:
            self.notice(f"no GPU readings: {exc}. Memory is the resident memory of the server and its models")
            return None
        stack.callback(close_nvml)
        return gpu

    def _idle(self, seconds: float) -> ResourceUse:
        start = self.sampler.now()
        time.sleep(seconds)
        return self.sampler.use(start, self.sampler.now())

    def _metadata(self, triton_version: str) -> ProfileMetadata:
        r, gpu = self.request, self.gpu
        notes = (
            f"streaming: input tokens {r.input_tokens}, output tokens {r.output_tokens} (words), "
            f"{r.request_format} request format, {r.settings.duration_s:g} s per point after a warm-up, "
            f"memory per sequence fitted over concurrencies; resources sampled every "
            f"{r.sample_interval_s * 1000:.0f} ms"
        )
        try:
            client = f"tritonclient {package_metadata.version('tritonclient')}"
        except package_metadata.PackageNotFoundError:
            client = "tritonclient"
        return ProfileMetadata(
            device="gpu" if gpu else "cpu",
            gpu_name=gpu.name if gpu else "",
            gpu_memory_mb=gpu.memory_total_mb if gpu else None,
            driver=gpu.driver if gpu else "",
            triton_version=triton_version,
            date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            load_generator=f"gpupack streaming ({client}, gRPC stream_infer)",
            notes=notes,
            gpu_reserved_memory_mb=gpu.reserved_memory_mb if gpu else None,
        )

    def profile(self) -> Profile:
        return Profile(points=tuple(self.points), server=self.baseline, metadata=self.metadata)

    def record(self, point: ProfilePoint) -> None:
        self.points.append(point)
        write_profile(self.profile(), self.request.output)
        self.done += 1
        elapsed = time.monotonic() - self.started
        self.reporter.progress(
            Progress(self.done, self.total, point, elapsed, eta_seconds(elapsed, self.done, self.total))
        )

    def model(self, model: str) -> None:
        """Load, measure every point, fit memory, write the model's rows, unload."""
        r = self.request
        loads = [(c, None) for c in r.concurrencies] + [(0, rate) for rate in r.request_rates]
        try:
            self.control.load(model)
        except ModelLoadError as exc:
            for c, rate in loads:
                self.record(ProfilePoint(model, 1, c, stable=False, error=str(exc), request_rate=rate))
            return
        try:
            weights = _memory(self._idle(WEIGHTS_S))
            config = self.control.model_config(model)
            requests = self._requests(config, model, detect_format(model, config, r.request_format))
            first = len(self.points)
            for c, rate in loads:
                load = StreamLoad(self.server.endpoints.grpc, model, requests, c, rate, r.seed)
                point = self._point(load, measure_stream(load, r.settings))
                self.record(dataclasses.replace(point, instance_count=instance_count(config)))
            self._finish(model, first, weights)
        finally:
            self.control.unload(model)

    def _requests(
        self, config: model_config_pb2.ModelConfig, model: str, fmt: RequestFormat
    ) -> tuple[tuple[TensorValue, ...], ...]:
        """``PROMPTS`` requests of the asked lengths, seeded by the run's seed and the model's name."""
        rng = random.Random(f"{self.request.seed}:{model}")
        r = self.request
        lengths = [(r.input_tokens.draw(rng), r.output_tokens.draw(rng)) for _ in range(PROMPTS)]
        return synthetic_requests(fmt, config, lengths, rng)

    def _point(self, load: StreamLoad, m: StreamMeasurement) -> ProfilePoint:
        base = {"model": load.model, "batch_size": 1, "concurrency": load.concurrency}
        base["request_rate"] = load.request_rate
        if m.error:
            return ProfilePoint(**base, stable=False, error=m.error)
        try:
            s = summarize_stream(m.timings, m.start, m.end)
        except ValueError as exc:
            return ProfilePoint(**base, stable=False, error=f"{exc}: requests take longer than --duration")
        use = self.sampler.use(m.start, m.end, memory_start=m.traffic_start)
        return ProfilePoint(
            **base,
            throughput=s.requests_per_s,
            latency_p50_ms=s.latency_ms[50],
            latency_p90_ms=s.latency_ms[90],
            latency_p95_ms=s.latency_ms[95],
            latency_p99_ms=s.latency_ms[99],
            **{f"ttft_p{q}_ms": v for q, v in s.ttft_ms.items()},
            **{f"itl_p{q}_ms": v for q, v in s.itl_ms.items()},
            tokens_per_s=s.tokens_per_s,
            input_tokens=self.request.input_tokens.mean,
            output_tokens=s.mean_output_tokens,
            # Too few requests for a percentile to mean much: say so rather than plan on it.
            stable=s.requests >= MIN_STABLE_REQUESTS,
            **dataclasses.asdict(use),
        )

    def _finish(self, model: str, first: int, weights: float | None) -> None:
        """Fit memory per sequence over the model's concurrency points; write both into its rows."""
        mine = self.points[first:]
        samples = [
            (p.concurrency, _memory_of(p)) for p in mine if p.ok and p.request_rate is None and _memory_of(p)
        ]
        try:
            fit = fit_memory(samples)
        except ValueError as exc:
            fit = None
            self.notice(f"{model}: no memory per sequence ({exc})")
        self.fits[model] = fit
        base = _memory(ResourceUse(**dataclasses.asdict(self.baseline)))
        weights_mb = None if weights is None or base is None else max(0.0, weights - base)
        kv = None if fit is None else fit.per_sequence_mb
        self.points[first:] = [
            dataclasses.replace(p, weights_mb=weights_mb, kv_mb_per_sequence=kv) if p.ok else p for p in mine
        ]
        write_profile(self.profile(), self.request.output)


def _memory_of(point: ProfilePoint) -> float | None:
    return _memory(
        ResourceUse(
            memory_mb=point.memory_mb,
            process_memory_mb=point.process_memory_mb,
            host_memory_mb=point.host_memory_mb,
        )
    )


def _hold_output(request: StreamingProfileRequest, stack: contextlib.ExitStack) -> None:
    """``--output``: not an input, ours alone for the run, and no profile there already."""
    refuse_overlap(
        request.output,
        {
            "--model-repository": request.model_repository,
            "--triton-server": request.triton_server,
            "--backend-python": request.backend_python,
            "--backend-directory": request.backend_directory,
        },
    )
    if (request.output / PROFILE_CSV).exists():
        raise InputError(f"--output {request.output} already holds a profile", "choose another --output")
    stack.enter_context(exclusive(request.output))
    ensure_directory(request.output)


def run_streaming_profile(request: StreamingProfileRequest, reporter: Reporter) -> StreamingProfileResult:
    """Profile ``request.models`` (streaming) and write the profile to ``request.output``.

    Raises:
        InputError: bad request (unknown model, a model that does not stream, unknown inputs, ...).
        GpupackError: the server could not start or answer.

    """
    check_request(request)
    run = _Run(request, reporter)
    interrupted = False
    with signals.handle_signals(), contextlib.ExitStack() as stack:
        _hold_output(request, stack)
        run.open(stack)
        try:
            for model in request.models:
                run.model(model)
        except KeyboardInterrupt:
            interrupted = True  # every point measured is in the profile already
    return StreamingProfileResult(
        request=request,
        profile=run.profile(),
        fits=dict(run.fits),
        notices=tuple(run.notices),
        elapsed_s=time.monotonic() - run.started,
        interrupted=interrupted,
    )
