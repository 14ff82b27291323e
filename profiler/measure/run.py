"""``gpupack profile`` as a function: a validated request in, a result out (the CLI only prints it).

Local mode starts a tritonserver of our own on the model repository (``launcher``); remote mode
profiles a server at ``--triton-url`` that someone else started with explicit model control. Either
way the sweep (``sweep``) loads one model at a time while a sampler watches the GPU (NVML locally,
the metrics endpoint remotely) and, locally, the server's processes. Everything opened is closed in
reverse order, whatever happens; SIGTERM and SIGHUP end a run like Ctrl-C does (``signals``).

``--output`` is checked first and held for the whole run: created if needed, never an input nor
inside one, and locked, so that a second run on it is refused instead of overwriting the first.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from profiler.base import signals
from profiler.base.errors import GpupackError, InputError, did_you_mean
from profiler.base.files import ensure_directory, exclusive, refuse_overlap
from profiler.measure.loadgen import BuiltinLoadGenerator, LoadEngine
from profiler.measure.metrics import GpuMetrics, MetricsGpuSource, fetch_metrics, parse_gpu_metrics
from profiler.measure.perf_analyzer import PerfAnalyzerEngine, find_perf_analyzer
from profiler.measure.request import (
    ProfileRequest,
    ProfileResult,
    build_metadata,
    check_resumable,
    existing_profile,
)
from profiler.measure.sampler import GpuSource, Sampler
from profiler.measure.sweep import Reporter, Sweep, SweepSpec
from profiler.server.install import describe_install, find_tritonserver
from profiler.server.launcher import LocalServer, LocalServerSettings
from profiler.server.nvml import GpuInfo, NvmlGpuSource, NvmlUnavailable, close_nvml, open_gpu
from profiler.server.procfs import TreeUsage
from profiler.server.triton import Endpoints, TritonControl, remote_endpoints

SERVER_LOG = "tritonserver.log"
# After a failed request: how long a server that may be dying gets to show it (a killed process is
# collected within milliseconds; a healthy server costs this much per failed point, no more).
DYING_SERVER_S = 1.0


@dataclass(frozen=True)
class _Target:
    """The server being profiled and what can be read about it."""

    endpoints: Endpoints
    handle: _LocalHandle | _RemoteHandle
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
            raise InputError(
                f"--models: no model {model!r} in {request.model_repository or request.triton_url}",
                did_you_mean(model, known, f"it has: {', '.join(known) or 'no models'}"),
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


class _LocalHandle:
    """Our own server: it can die, and it can be restarted (same ports, a fresh control client)."""

    owned = True

    def __init__(self, server: LocalServer, tree: TreeUsage) -> None:
        self.server = server
        self.tree = tree
        self.control = TritonControl(server.endpoints.grpc)

    def failure(self, after_error: bool = False) -> str | None:
        status = self.server.exit_status(DYING_SERVER_S if after_error else 0.0)
        if status is None:
            return None
        return f"tritonserver exited unexpectedly ({status}; see {self.server.log_path})"

    def recover(self, reason: str) -> None:
        self.control.close()
        self.server.restart()
        self.control = TritonControl(self.server.endpoints.grpc)
        self.tree.root = self.server.pid  # the sampler follows the new server's process tree

    def close(self) -> None:
        self.control.close()


class _RemoteHandle:
    """A server someone else runs: if it goes away or a model won't leave, the sweep stops."""

    owned = False

    def __init__(self, control: TritonControl) -> None:
        self.control = control

    def failure(self, after_error: bool = False) -> str | None:
        return None if self.control.is_ready() else f"the server at {self.control.url} no longer answers"

    def recover(self, reason: str) -> None:
        raise GpupackError(
            f"{reason}; gpupack does not restart a server it did not start",
            "restart the server, then rerun with --resume",
        )

    def close(self) -> None:
        self.control.close()


class ProfileSession:
    """One run's resources, opened in order and closed in reverse by ``stack``; its notices.

    Also the config search's (``search_run``), on its scratch repository of variants.
    """

    def __init__(self, request: ProfileRequest, reporter: Reporter) -> None:
        self.request = request
        self.reporter = reporter
        self.notices: list[str] = []
        self.stack = contextlib.ExitStack()

    def notice(self, message: str) -> None:
        """Tell the user now, and keep it for the result."""
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
        tree = TreeUsage(server.pid)
        handle = _LocalHandle(server, tree)
        self.stack.callback(handle.close)
        return _Target(server.endpoints, handle, handle.control.server_version(), tree, gpu)

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
        return _Target(endpoints, _RemoteHandle(control), version, remote_gpus=tuple(gpus.items()))

    def engine(self, target: _Target) -> LoadEngine:
        """The load generator the request names."""
        if self.request.load_generator != "perf_analyzer":
            return BuiltinLoadGenerator(target.endpoints.grpc)
        binary = find_perf_analyzer(self.request.perf_analyzer)
        engine = PerfAnalyzerEngine(binary, target.endpoints.grpc, _library_dirs(self.request))
        self.stack.callback(engine.close)
        return engine


def hold_output(request: ProfileRequest, stack: contextlib.ExitStack) -> None:
    """``--output``: not an input, a directory (created), and ours alone until the run ends."""
    refuse_overlap(
        request.output,
        {
            "--model-repository": request.model_repository,
            "--triton-server": request.triton_server,
            "--backend-python": request.backend_python,
            "--backend-directory": request.backend_directory,
            "--perf-analyzer": request.perf_analyzer,
        },
    )
    # A run refused before it wrote anything leaves nothing: the folders made for it go again (last,
    # once the lock file beside the output is gone).
    made = list(
        itertools.takewhile(lambda p: not os.path.lexists(p), [request.output, *request.output.parents])
    )
    stack.callback(_remove_empty, made)
    stack.enter_context(exclusive(request.output))
    ensure_directory(request.output)


def _remove_empty(directories: list[Path]) -> None:
    """Remove ``directories`` (innermost first) while they are empty."""
    for directory in directories:
        try:
            directory.rmdir()
        except FileNotFoundError:
            continue  # never made (the run stopped before it): its parents may still be ours
        except OSError:
            return


def run_profile(request: ProfileRequest, reporter: Reporter) -> ProfileResult:
    """Profile ``request.models`` and write the profile to ``request.output``.

    Raises:
        InputError: bad request (unknown model, dynamic dims without --shape, output in use, ...).
        GpupackError: the server could not start or answer.

    """
    session = ProfileSession(request, reporter)
    with signals.handle_signals(), session.stack:
        hold_output(request, session.stack)
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
            request.models,
            request.batch_sizes,
            request.concurrencies,
            request.shapes,
            request.settings,
            request.reload_per_batch,
            request.request_rates,
        )
        outcome = Sweep(target.handle, engine, sampler, request.output, reporter).run(
            spec, metadata, existing
        )
        if sampler.failures:
            session.notice(f"{sampler.failures} resource samples failed; the first: {sampler.first_failure}")
    return ProfileResult(request=request, outcome=outcome, notices=tuple(session.notices))
