"""Serve a model repository in the foreground (``gpupack serve``), and the launch scripts that call it.

``serve`` starts one tritonserver through the profiler's own launcher (``LocalServer``: the server
binary found as for ``gpupack profile``, the Python backend stub put in place, a numpy<2 python3 first
on the server's PATH) with model control ``none`` (every model of the repository loaded at start;
``poll`` also picks up changes), fixed ports and one GPU, then waits until SIGINT, SIGTERM or SIGHUP
and stops the server cleanly. ``launch_script`` renders the ``launch-gpuN.sh`` of a written plan,
which ``exec``s ``gpupack serve`` on its repository with that GPU's ports.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from profiler.base.errors import InputError
from profiler.base.signals import Interrupted, handle_signals
from profiler.server.launcher import LocalServer, LocalServerSettings, ServerPorts
from profiler.server.nvml import NoSuchGpu, NvmlUnavailable, close_nvml, open_gpu
from profiler.server.triton import Endpoints, TritonControl

# Every model of the repository is loaded before the server says it is ready; PyTorch models on a
# GPU import torch and build their networks in their own processes: allow as long as a model load.
SERVE_START_TIMEOUT_S = 600.0
ServeMode = Literal["none", "poll"]


def visible_device(index: int) -> str:
    """``CUDA_VISIBLE_DEVICES`` for the GPU NVML numbers ``index``: its UUID, or the index without NVML.

    CUDA numbers GPUs fastest first unless told otherwise, NVML (and nvidia-smi) by PCI bus: the UUID
    names the same GPU for both.

    Raises:
        InputError: NVML works and has no GPU ``index``.

    """
    try:
        gpu = open_gpu(index)
    except NoSuchGpu as exc:
        raise InputError(f"--gpu {index}: {exc}") from None
    except NvmlUnavailable:
        return str(index)
    close_nvml()
    return gpu.uuid


@dataclass(frozen=True)
class ServeRequest:
    """What ``gpupack serve`` was asked: the repository, its ports and GPU, the server's pieces."""

    repository: Path
    ports: ServerPorts = ServerPorts(8000, 8001, 8002)
    gpu: int | None = None  # None: the environment's CUDA_VISIBLE_DEVICES
    triton_server: Path | None = None
    backend_python: Path | None = None
    backend_directory: Path | None = None
    model_control_mode: ServeMode = "none"
    server_args: tuple[str, ...] = ()
    log_path: Path | None = None
    start_timeout_s: float = SERVE_START_TIMEOUT_S

    def __post_init__(self) -> None:
        if not self.repository.is_dir():
            raise InputError(f"{self.repository}: not a directory (expected a Triton model repository)")
        if self.model_control_mode not in ("none", "poll"):
            raise InputError(f"--model-control-mode must be none or poll, got {self.model_control_mode!r}")

    def settings(self, echo: IO[str] | None) -> LocalServerSettings:
        """The launcher's settings for this request (resolves ``gpu`` through NVML)."""
        return LocalServerSettings(
            model_repository=self.repository,
            triton_server=self.triton_server,
            backend_python=self.backend_python,
            backend_directory=self.backend_directory,
            cuda_visible_devices=None if self.gpu is None else visible_device(self.gpu),
            log_path=self.log_path,
            start_timeout_s=self.start_timeout_s,
            ports=self.ports,
            model_control_mode=self.model_control_mode,
            server_args=self.server_args,
            echo=echo,
        )


@dataclass(frozen=True)
class Serving:
    """A server that is up: where it answers and what it serves."""

    repository: Path
    endpoints: Endpoints
    models: tuple[str, ...]
    cuda_visible_devices: str | None
    log_path: Path | None

    def describe(self) -> str:
        """One line for the user: what is served where, and how to stop it."""
        e = self.endpoints
        gpu = f"; CUDA_VISIBLE_DEVICES={self.cuda_visible_devices}" if self.cuda_visible_devices else ""
        log = f"; log in {self.log_path}" if self.log_path else ""
        return (
            f"serving {self.repository} ({len(self.models)} models: {', '.join(self.models) or '-'}) on "
            f"HTTP {e.http}, gRPC {e.grpc}, metrics {e.metrics}{gpu}{log}; Ctrl-C or SIGTERM stops it"
        )


@dataclass(frozen=True)
class ServeResult:
    """How serving ended: the signal that stopped it and the exit code a shell would report."""

    signal_name: str
    exit_code: int


def serve(request: ServeRequest, on_ready: Callable[[Serving], None], echo: IO[str] | None) -> ServeResult:
    """Serve ``request.repository`` until a stop signal; ``on_ready`` is told once the models are loaded.

    Raises:
        InputError: bad input (repository, server binary, backend Python, port in use, GPU).
        GpupackError: the server failed to start (e.g. a model failed to load) or exited by itself.

    """
    with handle_signals():
        try:
            settings = request.settings(echo)
            with LocalServer(settings) as server:
                with TritonControl(server.endpoints.grpc) as control:
                    states = control.model_states()
                ready = tuple(sorted(name for name, state in states.items() if state == "READY"))
                on_ready(
                    Serving(
                        request.repository,
                        server.endpoints,
                        ready,
                        settings.cuda_visible_devices,
                        server.log_path if request.log_path else None,
                    )
                )
                raise server.exit_error(server.wait())
        except Interrupted as stopped:
            return ServeResult(stopped.args[0], stopped.exit_code)


def installed_gpupack() -> str:
    """The absolute path of the ``gpupack`` console script running now, else installed beside Python.

    Falls back to ``gpupack`` (found on PATH when the script runs) when neither exists.
    """
    running = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if running is not None and running.name == "gpupack" and running.is_file():
        return os.path.abspath(running)
    beside = Path(sys.executable).parent / "gpupack"
    if beside.is_file():
        return str(beside)
    return shutil.which("gpupack") or "gpupack"


_LAUNCH = """#!/usr/bin/env bash
# gpupack plan, GPU {index}: {models}
# Serves {repository}/ in the foreground with one Triton server that sees only this GPU, through
# `gpupack serve` (it finds tritonserver, puts the Python backend stub in place and a numpy<2 python3
# first on the server's PATH). Ctrl-C, SIGTERM or SIGHUP stop the server (exit 130, 143, 129).
# Environment: GPUPACK (the gpupack executable), GPUPACK_GPU (the physical GPU, NVML index),
# TRITONSERVER (the tritonserver binary), GPUPACK_BACKEND_PYTHON (the python3 the models run in).
# Extra arguments go to `gpupack serve` (e.g. --model-control-mode poll); after --, to tritonserver.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gpupack={gpupack}
exec "${{GPUPACK:-$gpupack}}" serve "$here/{repository}" \\
    --http-port {http} --grpc-port {grpc} --metrics-port {metrics} --gpu "${{GPUPACK_GPU:-{index}}}" "$@"
"""


def launch_script(
    index: int,
    repository_dir_name: str,
    http: int,
    grpc: int,
    metrics: int,
    gpupack_executable: str | os.PathLike[str],
    models: Sequence[str] = (),
) -> str:
    """The text of ``launch-gpu<index>.sh``: ``gpupack serve`` on ``<script's folder>/<repository_dir_name>``.

    Args:
        index: the plan's GPU index; also the default physical GPU (``GPUPACK_GPU`` overrides it).
        repository_dir_name: the repository's folder name beside the script, e.g. ``gpu0``.
        http: the server's HTTP port.
        grpc: the server's gRPC port.
        metrics: the server's metrics port.
        gpupack_executable: the gpupack to run (``GPUPACK`` overrides it), e.g. ``installed_gpupack()``.
        models: the models placed there, named in a comment.

    Raises:
        InputError: a negative index, a folder name that is not a plain name, or bad ports.

    """
    if index < 0:
        raise InputError(f"GPU index must be at least 0, got {index}")
    name = repository_dir_name
    if not name or name in (".", "..") or "/" in name or "\\" in name or any(c.isspace() for c in name):
        raise InputError(f"repository folder {name!r} is not a plain directory name")
    ServerPorts(http, grpc, metrics)  # validates them
    return _LAUNCH.format(
        index=index,
        models=", ".join(" ".join(m.split()) for m in models) or "(no models)",
        repository=name,
        gpupack=shlex.quote(os.fspath(gpupack_executable)),
        http=http,
        grpc=grpc,
        metrics=metrics,
    )
