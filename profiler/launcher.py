"""Start and stop a local tritonserver for profiling (local mode).

Explicit model control, free ports chosen at start, the Python backend set up as ``server_install``
describes, its own session (Ctrl-C in a terminal reaches us, not the server, so we stop it in
order: SIGTERM, then SIGKILL), and a parent-death signal so that it never outlives us, even if we
are killed. The session is also a process group holding the server and its model stubs: once the
server has exited, whatever is left of the group (a stub orphaned by a crashed server) is killed.
The group is registered with ``signals`` so that a forced exit kills it too.

A server that died (``exit_status``) or must be cleared (a model hangs and can't be unloaded) is
restarted on the same ports (``restart``), so that every client keeps its address.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from profiler import signals
from profiler.errors import GpupackError, InputError
from profiler.files import cannot_write, temp_dir
from profiler.reaper import kill_group, remove_leaked_shm
from profiler.server_install import (
    BackendPython,
    ServerInstall,
    describe_install,
    find_tritonserver,
    prepare_backends,
    probe_backend_python,
)
from profiler.triton import Endpoints, TritonControl

# A 2-core CI host starts the server in ~2 s; a GPU host with several GPUs can take 20 s or more.
START_TIMEOUT_S = 120.0
# SIGTERM makes the server unload its models first; a PyTorch model on a GPU can take seconds.
STOP_TIMEOUT_S = 30.0
# The server's own --exit-timeout-secs: how long it waits for in-flight requests when stopping.
SERVER_EXIT_TIMEOUT_S = 5
# Ports are picked free and then bound by the server: another process can take one in between.
PORT_ATTEMPTS = 3
_READY_POLL_S = 0.2
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies, so the server never outlives us."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def last_error_line(log: str) -> str:
    """The most telling line of a server log: its last error, else its last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if line[:1] == "E" and line[1:5].isdigit() or "error" in line.lower()]
    line = (errors or lines or ["no output"])[-1]
    if line[:1] in "EWI" and line[1:5].isdigit() and "] " in line:
        line = line.split("] ", 1)[1]  # drop glog's "E1125 15:59:42.545464 7451 main.cc:245] " prefix
    return line.strip('"')


@dataclass(frozen=True)
class LocalServerSettings:
    """How to start the local server. None means the default described in the field's comment."""

    model_repository: Path
    triton_server: Path | None = None  # find_tritonserver()
    backend_python: Path | None = None  # the interpreter running gpupack
    backend_directory: Path | None = None  # a copy of the server's own, with the right stub
    cuda_visible_devices: str | None = None  # the environment's
    log_path: Path | None = None  # a file in a temporary directory
    start_timeout_s: float = START_TIMEOUT_S


class LocalServer:
    """A tritonserver process we own: ``with LocalServer(settings) as server: ...`` always stops it."""

    def __init__(self, settings: LocalServerSettings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self._endpoints: Endpoints | None = None
        self._workdir: Path | None = None
        self._launch_args: tuple[Path, Path, dict[str, str], Path] | None = None
        self._ports: tuple[int, int, int] | None = None
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
        """Start the server and wait until it is ready.

        Raises:
            InputError: bad settings (repository, server, backend Python).
            GpupackError: the server exited or did not get ready in time; the message quotes its log.

        """
        settings = self.settings
        if not settings.model_repository.is_dir():
            raise InputError(f"--model-repository {settings.model_repository}: not a directory")
        install = describe_install(find_tritonserver(settings.triton_server))
        python = probe_backend_python(settings.backend_python or Path(sys.executable))
        self._workdir = temp_dir("triton")
        backends = settings.backend_directory or prepare_backends(install, python, self._workdir)
        log_path = settings.log_path or self._workdir / "tritonserver.log"
        self._launch_args = (install.binary, backends, self._environment(install, python), log_path)
        for _ in range(PORT_ATTEMPTS):
            self._ports = (free_port(), free_port(), free_port())
            if self._launch(*self._launch_args, self._ports):
                return
            self._terminate()
        raise GpupackError(f"tritonserver found its ports taken {PORT_ATTEMPTS} times", f"see {log_path}")

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
                "tritonserver could not restart: another process took its ports",
                f"see {self._launch_args[3]}",
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

    @property
    def log_path(self) -> Path | None:
        """The server's log file (None before the first start)."""
        return self._launch_args[3] if self._launch_args else None

    def _environment(self, install: ServerInstall, python: BackendPython) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(python.executable.parent), env.get("PATH", "")])
        if install.libraries is not None:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(
                p for p in (str(install.libraries), env.get("LD_LIBRARY_PATH", "")) if p
            )
        if self.settings.cuda_visible_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.settings.cuda_visible_devices
        return env

    def _launch(
        self, binary: Path, backends: Path, env: dict[str, str], log_path: Path, ports: tuple[int, int, int]
    ) -> bool:
        """Start once on ``ports``: True when ready, False if a port was taken meanwhile (try again)."""
        http, grpc, metrics = ports
        self._started_at = self._started_at or time.time()
        command = [
            str(binary),
            f"--model-repository={self.settings.model_repository.resolve()}",
            f"--backend-directory={backends}",
            "--model-control-mode=explicit",
            f"--http-port={http}",
            f"--grpc-port={grpc}",
            f"--metrics-port={metrics}",
            f"--exit-timeout-secs={SERVER_EXIT_TIMEOUT_S}",
        ]
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            offset = log_path.stat().st_size if log_path.exists() else 0
            log = open(log_path, "ab")  # noqa: SIM115 (closed below, once the server has it)
        except OSError as exc:
            raise cannot_write(log_path, exc) from None
        with log:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        signals.register_process_group(self.process.pid)
        self._endpoints = Endpoints(
            grpc=f"localhost:{grpc}", http=f"localhost:{http}", metrics=f"http://localhost:{metrics}/metrics"
        )
        deadline = time.monotonic() + self.settings.start_timeout_s
        with TritonControl(self._endpoints.grpc) as control:
            while time.monotonic() < deadline:
                code = self.process.poll()
                if code is not None:
                    if "already in use" in _read_from(log_path, offset):
                        return False
                    raise _start_error(log_path, offset, f"exited during start-up (exit code {code})")
                if control.is_ready():
                    return True
                time.sleep(_READY_POLL_S)
        raise _start_error(log_path, offset, f"not ready after {self.settings.start_timeout_s:.0f} s")

    def stop(self) -> None:
        """Stop the server and remove our temporary files."""
        self._terminate()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

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
        kill_group(process.pid)
        signals.unregister_process_group(process.pid)
        remove_leaked_shm(self._started_at)


def _start_error(log_path: Path, offset: int, what: str) -> GpupackError:
    line = last_error_line(_read_from(log_path, offset))
    return GpupackError(f"tritonserver {what}: {line}", f"see the server log {log_path}")


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
