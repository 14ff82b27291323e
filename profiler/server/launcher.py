"""Start and stop a local tritonserver: the one launcher of ``gpupack profile``, ``serve`` and ``validate``.

The Python backend is set up as ``server_install`` describes (the stub for the backend Python's
version in a backend directory, that Python's folder first on the server's PATH). The server gets
its own session (Ctrl-C in a terminal reaches us, not the server, so we stop it in order: SIGTERM,
then SIGKILL to its process group) and a parent-death signal so that it never outlives us, even if
we are killed. Profiling uses explicit model control on free ports; serving a repository uses model
control ``none`` (or ``poll``: every model of the repository is loaded at start) on fixed ports.

The session is also a process group holding the server and its model stubs: once the server has
exited, whatever is left of the group (a stub orphaned by a crashed server) is killed, and the group
is registered with ``signals`` so that a forced exit kills it too. A server that died
(``exit_status``) or must be cleared (a model hangs and can't be unloaded) is restarted on the same
ports (``restart``), so that every client keeps its address.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from profiler.base import signals
from profiler.base.errors import GpupackError, InputError
from profiler.base.files import cannot_write, ensure_directory, temp_dir
from profiler.server.install import (
    BackendPython,
    ServerInstall,
    describe_install,
    find_tritonserver,
    prepare_backends,
    probe_backend_python,
    uses_python_backend,
)
from profiler.server.log import LogPump, last_error_line
from profiler.server.ports import ServerPorts, check_ports_free, free_port, http_ready
from profiler.server.reaper import kill_group, remove_leaked_shm
from profiler.server.triton import Endpoints

__all__ = ["LocalServer", "LocalServerSettings", "ServerPorts", "free_port", "last_error_line"]

# A 2-core CI host starts the server in ~2 s; a GPU host with several GPUs can take 20 s or more.
START_TIMEOUT_S = 120.0
# SIGTERM makes the server unload its models first; a PyTorch model on a GPU can take seconds.
STOP_TIMEOUT_S = 30.0
# The server's own --exit-timeout-secs: how long it waits for in-flight requests when stopping.
SERVER_EXIT_TIMEOUT_S = 5
# Ports are picked free and then bound by the server: another process can take one in between.
PORT_ATTEMPTS = 3
# --model-control-mode=poll: how often the server rescans the repository (Triton's default is 15 s).
POLL_SECONDS = 5
# What the server says when a model needs a backend it does not have.
_NO_BACKEND = "unable to find backend library"
_READY_POLL_S = 0.2
_PR_SET_PDEATHSIG = 1
_PORT_TAKEN = "already in use"

ControlMode = Literal["explicit", "none", "poll"]


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies, so the server never outlives us."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class LocalServerSettings:
    """How to start the local server. None means the default described in the field's comment."""

    model_repository: Path
    triton_server: Path | None = None  # find_tritonserver()
    backend_python: Path | None = None  # the interpreter running gpupack
    backend_directory: Path | None = None  # a copy of the server's own, with the right stub
    cuda_visible_devices: str | None = None  # the environment's
    log_path: Path | None = None  # a temporary file, removed when the server stops without failing
    start_timeout_s: float = START_TIMEOUT_S
    ports: ServerPorts | None = None  # free ports, chosen again if one is taken meanwhile
    model_control_mode: ControlMode = "explicit"
    server_args: tuple[str, ...] = ()  # more tritonserver arguments, after ours (so they win)
    echo: IO[str] | None = None  # also copy the server's output here (``gpupack serve``)

    def __post_init__(self) -> None:
        if self.model_control_mode not in ("explicit", "none", "poll"):
            raise InputError(
                f"model control mode must be explicit, none or poll, got {self.model_control_mode!r}"
            )
        if not self.start_timeout_s > 0:
            raise InputError(f"the start timeout must be positive, got {self.start_timeout_s}")


class LocalServer:
    """A tritonserver process we own: ``with LocalServer(settings) as server: ...`` always stops it."""

    def __init__(self, settings: LocalServerSettings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self._endpoints: Endpoints | None = None
        self._workdir: Path | None = None
        self._pump: LogPump | None = None
        self.log_path: Path | None = None
        self._temporary_log = False  # ours to remove when stopping, unless the server failed
        self._launch_args: tuple[Path, Path, dict[str, str]] | None = None
        self._ports: ServerPorts | None = None
        self._started_at = 0.0

    @property
    def pid(self) -> int:
        """The server's process id (while running)."""
        if self.process is None:
            raise RuntimeError("the server is not running")
        return self.process.pid

    @property
    def endpoints(self) -> Endpoints:
        """Where the running server answers."""
        if self._endpoints is None or self.process is None:
            raise RuntimeError("the server is not running")
        return self._endpoints

    def __enter__(self) -> LocalServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until it is ready (with control mode none/poll: every model loaded).

        Raises:
            InputError: bad settings (repository, server, backend Python, a fixed port in use).
            GpupackError: the server exited or did not get ready in time; the message quotes its log.

        """
        settings = self.settings
        if not settings.model_repository.is_dir():
            raise InputError(f"model repository {settings.model_repository}: not a directory")
        install = describe_install(find_tritonserver(settings.triton_server))
        # Only Python-backend models need the stub and a numpy<2 Python (ONNX, TensorRT... don't).
        python = None
        if uses_python_backend(settings.model_repository):
            python = probe_backend_python(settings.backend_python or Path(sys.executable))
        if settings.ports is not None:
            check_ports_free(settings.ports)
        self._workdir = temp_dir("triton")
        backends = settings.backend_directory or (
            prepare_backends(install, python, self._workdir) if python else install.backends
        )
        self.log_path = settings.log_path or self._temporary_log_path()
        self._launch_args = (install.binary, backends, self._environment(install, python))
        for _ in range(1 if settings.ports else PORT_ATTEMPTS):
            self._ports = settings.ports or ServerPorts.free()
            if self._launch(*self._launch_args, self._ports):
                return
            self._terminate()
        if settings.ports:
            raise InputError(
                f"tritonserver: a port of {settings.ports} is already in use",
                "choose other --http-port/--grpc-port/--metrics-port, or stop what listens there",
            )
        raise GpupackError(
            f"tritonserver found its ports taken {PORT_ATTEMPTS} times", f"see {self.log_path}"
        )

    def restart(self) -> None:
        """Stop the server (whatever its state) and start it again on the same ports.

        Raises:
            GpupackError: it did not come back (its log says why).

        """
        if self._launch_args is None or self._ports is None:
            raise RuntimeError("the server was never started")
        self._terminate()
        if not self._launch(*self._launch_args, self._ports):
            self._terminate()
            raise GpupackError(
                "tritonserver could not restart: another process took its ports", f"see {self.log_path}"
            )

    def exit_status(self, wait_s: float = 0.0) -> str | None:
        """None while the server runs; else how it ended, e.g. ``killed by signal 9 (SIGKILL)``.

        ``wait_s``: how long to give a server that may be dying. A killed server's sockets close
        before its exit can be collected, so a client sees the failure a moment before this does.
        """
        code = None
        if self.process is not None:
            try:
                code = self.process.wait(wait_s) if wait_s > 0 else self.process.poll()
            except subprocess.TimeoutExpired:
                code = None
        if self.process is not None and code is None:
            return None
        if code is None:
            return "not running"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by signal {-code} ({signal.Signals(-code).name})"
            return f"killed by signal {-code}"
        return f"exit code {code}"

    def _environment(self, install: ServerInstall, python: BackendPython | None) -> dict[str, str]:
        env = dict(os.environ)
        if python is not None:
            env["PATH"] = os.pathsep.join([str(python.executable.parent), env.get("PATH", "")])
        if install.libraries is not None:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(
                p for p in (str(install.libraries), env.get("LD_LIBRARY_PATH", "")) if p
            )
        if self.settings.cuda_visible_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.settings.cuda_visible_devices
        return env

    def command(self, binary: Path, backends: Path, ports: ServerPorts) -> list[str]:
        """The tritonserver command line for these ports."""
        settings = self.settings
        mode = settings.model_control_mode
        return [
            str(binary),
            f"--model-repository={settings.model_repository.resolve()}",
            f"--backend-directory={backends}",
            f"--model-control-mode={mode}",
            *([f"--repository-poll-secs={POLL_SECONDS}"] if mode == "poll" else []),
            f"--http-port={ports.http}",
            f"--grpc-port={ports.grpc}",
            f"--metrics-port={ports.metrics}",
            f"--exit-timeout-secs={SERVER_EXIT_TIMEOUT_S}",
            *settings.server_args,
        ]

    def _launch(self, binary: Path, backends: Path, env: dict[str, str], ports: ServerPorts) -> bool:
        """Start once on ``ports``: True when ready, False if a port was taken meanwhile (try again)."""
        assert self.log_path is not None
        self._started_at = self._started_at or time.time()
        ensure_directory(self.log_path.parent)
        self.process = subprocess.Popen(
            self.command(binary, backends, ports),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        signals.register_process_group(self.process.pid)
        assert self.process.stdout is not None
        self._pump = LogPump(self.process.stdout, self.log_path, self.settings.echo)
        self._endpoints = ports.endpoints()
        deadline = time.monotonic() + self.settings.start_timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self._pump.drain()
                if _PORT_TAKEN in self._pump.text():
                    return False
                raise self._error(f"exited during start-up (exit code {code})")
            if http_ready(ports.http):
                return True
            time.sleep(_READY_POLL_S)
        raise self._error(f"not ready after {self.settings.start_timeout_s:.0f} s")

    def wait(self) -> int:
        """Block until the server exits by itself; its exit code. Signal handlers may interrupt it."""
        if self.process is None:
            raise RuntimeError("the server is not running")
        code = self.process.wait()
        if self._pump is not None:
            self._pump.drain()
        return code

    def exit_error(self, code: int) -> GpupackError:
        """The error for a server that exited on its own with ``code``, quoting its log."""
        return self._error(f"exited (exit code {code})")

    def _temporary_log_path(self) -> Path:
        """A log file of our own, outside the work folder: it stays when the server fails, to be read."""
        try:
            fd, name = tempfile.mkstemp(prefix="gpupack-tritonserver-", suffix=".log")
        except OSError as exc:
            raise cannot_write(Path(tempfile.gettempdir()), exc) from None
        os.close(fd)
        self._temporary_log = True
        return Path(name)

    def _error(self, what: str) -> GpupackError:
        self._temporary_log = False  # keep it: the hint points there
        line = last_error_line(self._pump.text() if self._pump else "")
        where = "the server's output above" if self.settings.echo else f"the server log {self.log_path}"
        if _NO_BACKEND in line:
            return GpupackError(
                f"tritonserver {what}: {line}",
                "the server bundled with gpupack (nvidia-pytriton's) has the Python backend only: pass "
                f"--triton-server of a full Triton install for ONNX/TensorRT/PyTorch models; see {where}",
            )
        return GpupackError(f"tritonserver {what}: {line}", f"see {where}")

    def stop(self) -> None:
        """Stop the server and remove our temporary files."""
        self._terminate()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        if self._temporary_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self._temporary_log = False

    def _terminate(self) -> None:
        """SIGTERM (the server unloads its models), SIGKILL if it takes too long; then the group.

        Whatever is left of the process group gets SIGKILL: stubs orphaned by a server that crashed
        or was killed.
        """
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._pump is not None:
            self._pump.drain()
            self._pump = None
        kill_group(process.pid)
        signals.unregister_process_group(process.pid)
        remove_leaked_shm(self._started_at)
