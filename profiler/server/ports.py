"""A tritonserver's three ports (HTTP, gRPC, metrics): chosen free, checked free, polled for readiness."""

from __future__ import annotations

import contextlib
import errno
import http.client
import socket
from dataclasses import dataclass
from http import HTTPStatus

from profiler.base.errors import InputError
from profiler.server.triton import Endpoints

_READY_TIMEOUT_S = 5.0


def free_ports(count: int) -> list[int]:
    """``count`` different TCP ports nothing listens on right now.

    All are bound at once before any is let go: one after another, the OS may hand out the same
    port twice.
    """
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    return free_ports(1)[0]


def _bind_error(port: int) -> str | None:
    """Why the server could not bind ``port`` on every interface (as it does), or None if it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE
            return "is already in use" if taken else f"cannot be bound ({exc.strerror})"
    return None


def http_ready(port: int) -> bool:
    """True when the server on ``port`` says it is ready (with strict readiness: every model loaded).

    Plain HTTP, a new connection each time: a gRPC channel opened before the server listens backs off
    exponentially and would notice readiness seconds late.
    """
    connection = http.client.HTTPConnection("localhost", port, timeout=_READY_TIMEOUT_S)
    try:
        connection.request("GET", "/v2/health/ready")
        return connection.getresponse().status == HTTPStatus.OK
    except OSError:
        return False
    finally:
        connection.close()


@dataclass(frozen=True)
class ServerPorts:
    """Fixed ports for the server's HTTP, gRPC and metrics endpoints."""

    http: int
    grpc: int
    metrics: int

    def __post_init__(self) -> None:
        ports = (self.http, self.grpc, self.metrics)
        if not all(1 <= p <= 65535 for p in ports):
            raise InputError(f"ports must be within 1-65535, got {ports}")
        if len(set(ports)) != 3:
            raise InputError(f"the HTTP, gRPC and metrics ports must differ, got {ports}")

    @classmethod
    def free(cls) -> ServerPorts:
        """Three ports nothing listens on right now."""
        return cls(*free_ports(3))

    def endpoints(self) -> Endpoints:
        """Where a server on these ports answers, seen from this host."""
        return Endpoints(
            grpc=f"localhost:{self.grpc}",
            http=f"localhost:{self.http}",
            metrics=f"http://localhost:{self.metrics}/metrics",
        )


def check_ports_free(ports: ServerPorts) -> None:
    """Refuse fixed ports that something already listens on, before starting the server."""
    for name, port in (("HTTP", ports.http), ("gRPC", ports.grpc), ("metrics", ports.metrics)):
        problem = _bind_error(port)
        if problem:
            raise InputError(
                f"the {name} port {port} {problem}",
                "choose other --http-port/--grpc-port/--metrics-port, or stop what listens there",
            )
