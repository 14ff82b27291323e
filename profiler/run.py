"""``gpupack profile`` as a function: a validated request in, a result out (the CLI only prints it).

Local mode starts a tritonserver of our own on the model repository (``launcher``); remote mode
profiles a server at ``--triton-url`` that someone else started with explicit model control. Either
way the sweep (``sweep``) loads one model at a time while a sampler watches the GPU (NVML locally,
the metrics endpoint remotely) and, locally, the server's processes. Everything opened is closed in
reverse order, whatever happens; SIGTERM ends a run like Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from profiler.errors import InputError
from profiler.launcher import LocalServer, LocalServerSettings
from profiler.loadgen import BuiltinLoadGenerator, LoadEngine
from profiler.metrics import GpuMetrics, MetricsGpuSource, fetch_metrics, parse_gpu_metrics
from profiler.nvml import GpuInfo, NvmlGpuSource, NvmlUnavailable, close_nvml, open_gpu
from profiler.perf_analyzer import PerfAnalyzerEngine, find_perf_analyzer
from profiler.procfs import TreeUsage
from profiler.request import ProfileRequest, ProfileResult, build_metadata, check_resumable, existing_profile
from profiler.sampler import GpuSource, Sampler
from profiler.server_install import describe_install, find_tritonserver
from profiler.sweep import Reporter, Sweep, SweepSpec
from profiler.triton import Endpoints, TritonControl, remote_endpoints

SERVER_LOG = "tritonserver.log"


@dataclass(frozen=True)
class _Target:
    """The server being profiled and what can be read about it."""

    endpoints: Endpoints
    control: TritonControl
    triton_version: str
    tree: TreeUsage | None = None
    gpu: GpuInfo | None = None
    remote_gpus: tuple[tuple[str, GpuMetrics], ...] = ()

    def gpu_source(self) -> GpuSource | None:
        """NVML for a local GPU, the metrics endpoint for a remote server with GPUs, else nothing."""
        if self.gpu is not None:
            return NvmlGpuSource(self.gpu)
        return MetricsGpuSource(self.endpoints.metrics) if self.remote_gpus else None


def _check_models(request: ProfileRequest, known: list[str]) -> None:
    """Every requested model is among the server's."""
    for model in request.models:
        if model not in known:
            close = difflib.get_close_matches(model, known, n=1)
            raise InputError(
                f"--models: no model {model!r} in {request.model_repository or request.triton_url}",
                f"did you mean {close[0]!r}?" if close else f"it has: {', '.join(known) or 'no models'}",
            )


def _library_dirs(request: ProfileRequest) -> list[Path]:
    """Folders that may hold libb64/libcudart for perf_analyzer: nvidia-pytriton's libraries."""
    dirs = []
    if request.mode == "local":
        libraries = describe_install(find_tritonserver(request.triton_server)).libraries
        dirs += [libraries] if libraries else []
    spec = importlib.util.find_spec("pytriton")
    if spec and spec.submodule_search_locations:
        dirs.append(Path(next(iter(spec.submodule_search_locations))).parent / "nvidia_pytriton.libs")
    return dirs


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C: finished points kept, the server stopped.

    SIGINT gets the same handler, raising KeyboardInterrupt wherever the main thread is. Python's
    default would let ``asyncio.run`` turn Ctrl-C into a cancellation of the load generator's task,
    which is lost when it lands while the gRPC client is closing (the point then completes and the
    sweep goes on).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _Session:
    """One run's resources, opened in order and closed in reverse by ``stack``; its notices."""

    def __init__(self, request: ProfileRequest, reporter: Reporter) -> None:
        self.request = request
        self.reporter = reporter
        self.notices: list[str] = []
        self.stack = contextlib.ExitStack()

    def notice(self, message: str) -> None:
        self.notices.append(message)
        self.reporter.notice(message)

    def local(self) -> _Target:
        """Start our own server, on the one GPU NVML describes (or none, with a notice)."""
        r = self.request
        if r.model_repository is None or not r.model_repository.is_dir():
            raise InputError(f"--model-repository {r.model_repository}: not a directory")
        _check_models(r, sorted(p.name for p in r.model_repository.iterdir() if p.is_dir()))
        gpu = self._open_gpu()
        settings = LocalServerSettings(
            model_repository=r.model_repository,
            triton_server=r.triton_server,
            backend_python=r.backend_python,
            backend_directory=r.backend_directory,
            cuda_visible_devices=gpu.uuid if gpu else None,
            log_path=r.output / SERVER_LOG,
        )
        server = self.stack.enter_context(LocalServer(settings))
        control = self.stack.enter_context(TritonControl(server.endpoints.grpc))
        return _Target(server.endpoints, control, control.server_version(), TreeUsage(server.pid), gpu)

    def _open_gpu(self) -> GpuInfo | None:
        try:
            gpu = open_gpu(self.request.gpu)
        except NvmlUnavailable as exc:
            self.notice(
                f"no GPU readings: {exc}. GPU columns stay empty; recording CPU % and resident memory "
                "of the server and its model processes instead"
            )
            return None
        self.stack.callback(close_nvml)
        return gpu

    def remote(self) -> _Target:
        """Connect to a running server; its GPUs as its metrics endpoint reports them."""
        endpoints = remote_endpoints(self.request.triton_url or "", self.request.metrics_url)
        control = self.stack.enter_context(TritonControl(endpoints.grpc))
        version = control.server_version()
        states = control.model_states()
        _check_models(self.request, sorted(states))
        loaded = sorted(name for name, state in states.items() if state == "READY")
        if loaded:
            self.notice(
                f"the remote server already has models loaded ({', '.join(loaded)}): "
                "the baseline and the memory figures include them"
            )
        gpus = parse_gpu_metrics(fetch_metrics(endpoints.metrics))
        self.notice(
            f"remote mode: GPU readings from {endpoints.metrics} "
            + ("(no memory-controller utilization there); " if gpus else "(it reports no GPU); ")
            + "server CPU and memory columns stay empty"
        )
        return _Target(endpoints, control, version, remote_gpus=tuple(gpus.items()))

    def engine(self, target: _Target) -> LoadEngine:
        """The load generator the request names."""
        if self.request.load_generator != "perf_analyzer":
            return BuiltinLoadGenerator(target.endpoints.grpc)
        binary = find_perf_analyzer(self.request.perf_analyzer)
        engine = PerfAnalyzerEngine(binary, target.endpoints.grpc, _library_dirs(self.request))
        self.stack.callback(engine.close)
        return engine


def run_profile(request: ProfileRequest, reporter: Reporter) -> ProfileResult:
    """Profile ``request.models`` and write the profile to ``request.output``.

    Raises:
        InputError: bad request (unknown model, dynamic dims without --shape, output in use, ...).
        GpupackError: the server could not start or answer.

    """
    session = _Session(request, reporter)
    with _terminate_as_interrupt(), session.stack:
        existing = existing_profile(request)
        target = session.local() if request.mode == "local" else session.remote()
        engine = session.engine(target)
        metadata = build_metadata(
            request, target.gpu, dict(target.remote_gpus), target.triton_version, engine.description
        )
        check_resumable(existing, metadata)
        sampler = session.stack.enter_context(
            Sampler(target.gpu_source(), target.tree, request.sample_interval_s)
        )
        spec = SweepSpec(
            request.models, request.batch_sizes, request.concurrencies, request.shapes, request.settings
        )
        outcome = Sweep(target.control, engine, sampler, request.output, reporter).run(
            spec, metadata, existing
        )
        if sampler.failures:
            session.notice(f"{sampler.failures} resource samples failed; the first: {sampler.first_failure}")
    return ProfileResult(request=request, outcome=outcome, notices=tuple(session.notices))
