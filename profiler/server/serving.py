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
from profiler.server.nvml import NoSuchGpu, NvmlUnavailable, close_nvml, open_gpu, parse_gpu
from profiler.server.triton import Endpoints, TritonControl

# Every model of the repository is loaded before the server says it is ready; PyTorch models on a
# GPU import torch and build their networks in their own processes: allow as long as a model load.
SERVE_START_TIMEOUT_S = 600.0
ServeMode = Literal["none", "poll"]


def visible_device(index: int | str) -> str:
    """``CUDA_VISIBLE_DEVICES`` for the GPU NVML numbers ``index``: its UUID, or the index without NVML.

    A MIG device UUID (``parse_gpu``) is that device already: CUDA then sees only that slice.

    CUDA numbers GPUs fastest first unless told otherwise, NVML (and nvidia-smi) by PCI bus: the UUID
    names the same GPU for both.

    Raises:
        InputError: NVML works and has no GPU ``index``.

    """
    if isinstance(index, str):
        return index
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
    gpu: int | str | None = None  # None: the environment's CUDA_VISIBLE_DEVICES; str: a MIG UUID
    triton_server: Path | None = None
    backend_python: Path | None = None
    backend_directory: Path | None = None
    model_control_mode: ServeMode = "none"
    server_args: tuple[str, ...] = ()
    log_path: Path | None = None
    start_timeout_s: float = SERVE_START_TIMEOUT_S

    def __post_init__(self) -> None:
        if isinstance(self.gpu, str):
            object.__setattr__(self, "gpu", parse_gpu(self.gpu))  # "3" or "MIG-..." as typed
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


_MIG_LAUNCH = """#!/usr/bin/env bash
# gpupack plan, GPU {index} in MIG slices: {slices}
# One Triton server per MIG slice (`gpupack serve`), each seeing only its slice: CUDA_VISIBLE_DEVICES is
# the slice's MIG device UUID. Create the slices first (nvidia-mig-parted with mig-parted.yaml).
# Environment: GPUPACK (the gpupack executable), GPUPACK_GPU (the physical GPU, NVML index, whose MIG
# devices are used), GPUPACK_MIG_<start> (the MIG UUID of the slice at memory slice <start>; default:
# from nvidia-smi -L, the k-th MIG device of the slice's profile on that GPU), TRITONSERVER,
# GPUPACK_BACKEND_PYTHON. Extra arguments go to every `gpupack serve`. The first server to stop stops
# the others; Ctrl-C, SIGTERM or SIGHUP stop them all.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gpupack={gpupack}
gpu="${{GPUPACK_GPU:-{index}}}"
mig_uuid() {{  # PROFILE K: the UUID of the K-th MIG device of PROFILE on GPU $gpu (nvidia-smi -L)
    nvidia-smi -L | awk -v gpu="$gpu:" -v profile="$1" -v k="$2" '
        $1 == "GPU" {{ on = ($2 == gpu) }}
        on && $1 == "MIG" && $2 == profile && n++ == k {{
            sub(/.*UUID: /, ""); sub(/\\).*/, ""); print; exit
        }}'
}}
pids=()
trap 'kill "${{pids[@]}}" 2>/dev/null || true' EXIT INT TERM HUP
{servers}
wait -n
"""

_MIG_SERVER = """uuid="${{GPUPACK_MIG_{start}:-$(mig_uuid {profile} {k})}}"
[ -n "$uuid" ] || {{ echo "no MIG device {profile} #{k} on GPU $gpu (set GPUPACK_MIG_{start})" >&2; exit 2; }}
"${{GPUPACK:-$gpupack}}" serve "$here/{repository}/{folder}" \\
    --http-port {http} --grpc-port {grpc} --metrics-port {metrics} --gpu "$uuid" "$@" &
pids+=($!)"""


@dataclass(frozen=True)
class SliceServer:
    """One MIG slice's server in a sliced GPU's launch script."""

    profile: str
    start: int
    folder: str
    http: int
    grpc: int
    metrics: int
    models: tuple[str, ...] = ()


def mig_launch_script(
    index: int,
    repository_dir_name: str,
    servers: Sequence[SliceServer],
    gpupack_executable: str | os.PathLike[str],
) -> str:
    """The text of ``launch-gpu<index>.sh`` for a GPU cut into MIG slices: one server per slice.

    Each server is pinned by its slice's MIG device UUID (``GPUPACK_MIG_<start>``, else found with
    ``nvidia-smi -L`` among the devices of its profile on ``GPUPACK_GPU``, in order).

    Raises:
        InputError: a negative index, a folder that is not a plain name, or no slices.

    """
    if index < 0 or not servers:
        raise InputError(f"a sliced GPU needs an index ≥ 0 and at least one slice (GPU {index})")
    for name in (repository_dir_name, *(s.folder for s in servers)):
        if not name or name in (".", "..") or "/" in name or "\\" in name or any(c.isspace() for c in name):
            raise InputError(f"repository folder {name!r} is not a plain directory name")
    seen: dict[str, int] = {}
    blocks = []
    for s in sorted(servers, key=lambda s: s.start):
        ServerPorts(s.http, s.grpc, s.metrics)  # validates them
        k = seen.get(s.profile, 0)
        seen[s.profile] = k + 1
        blocks.append(
            _MIG_SERVER.format(
                start=s.start,
                profile=shlex.quote(s.profile),
                k=k,
                repository=repository_dir_name,
                folder=s.folder,
                http=s.http,
                grpc=s.grpc,
                metrics=s.metrics,
            )
        )
    described = "; ".join(
        f"{s.profile}@{s.start}: {', '.join(' '.join(m.split()) for m in s.models) or '-'}" for s in servers
    )
    return _MIG_LAUNCH.format(
        index=index,
        slices=described,
        gpupack=shlex.quote(os.fspath(gpupack_executable)),
        servers="\n".join(blocks),
    )
