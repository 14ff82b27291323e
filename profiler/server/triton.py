"""Talking to a Triton server we profile: readiness, version, model load/unload, model configuration.

Works the same for a server we started (local mode) and one we were pointed at (remote mode); both
must run with ``--model-control-mode=explicit`` so that models are loaded one at a time.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import tritonclient.grpc as grpcclient
from tritonclient.grpc import model_config_pb2
from tritonclient.utils import InferenceServerException

from profiler.base.errors import GpupackError, InputError

DEFAULT_GRPC_PORT = 8001
DEFAULT_METRICS_PORT = 8002
# A PyTorch model on a GPU imports torch and builds its network in its own process: tens of seconds.
LOAD_TIMEOUT_S = 600.0
UNLOAD_TIMEOUT_S = 120.0
_POLL_S = 0.1
_QUICK_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Endpoints:
    """Where a server answers: gRPC ``host:port``, HTTP ``host:port`` (None: unknown), metrics URL."""

    grpc: str
    http: str | None
    metrics: str


def remote_endpoints(triton_url: str, metrics_url: str | None = None) -> Endpoints:
    """Endpoints of a remote server from ``--triton-url`` (``host[:port]``, gRPC, default port 8001).

    The metrics URL defaults to ``http://HOST:8002/metrics``, Triton's default.

    Raises:
        InputError: the URL is not ``host[:port]`` (an optional ``grpc://`` is accepted).

    """
    text = triton_url.strip()
    parts = urlsplit(text if "://" in text else f"grpc://{text}")
    if parts.scheme not in ("grpc", "") or not parts.hostname or parts.path not in ("", "/"):
        raise InputError(f"--triton-url {triton_url!r}: expected HOST[:PORT] of the server's gRPC endpoint")
    try:
        port = parts.port or DEFAULT_GRPC_PORT
    except ValueError:
        raise InputError(f"--triton-url {triton_url!r}: bad port") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Endpoints(
        grpc=f"{host}:{port}",
        http=None,
        metrics=metrics_url or f"http://{host}:{DEFAULT_METRICS_PORT}/metrics",
    )


class ModelLoadError(GpupackError):
    """A model failed to load; the sweep records the message on its points and goes on."""


# The server's wording around the cause of a failed load, e.g. "load failed for model 'm': version 1 is
# at UNAVAILABLE state: Internal: RuntimeError: ...": what follows it is the cause.
_LOAD_FAILED = re.compile(r"^load failed for model '[^']*': (version \d+ is at UNAVAILABLE state: )?")


def _message(exc: InferenceServerException) -> str:
    text = exc.message() or str(exc)
    return " ".join(text.split())


class TritonControl:
    """A synchronous gRPC client for control calls (not for load: see ``loadgen``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client = grpcclient.InferenceServerClient(url)

    def __enter__(self) -> TritonControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self._client.close()

    def is_ready(self) -> bool:
        """True when the server answers and says it is ready."""
        try:
            return bool(self._client.is_server_ready(client_timeout=_QUICK_TIMEOUT_S))
        except InferenceServerException:
            return False

    def server_version(self) -> str:
        """The server's version, e.g. ``2.51.0``.

        Raises:
            GpupackError: the server does not answer.

        """
        try:
            return self._client.get_server_metadata(client_timeout=_QUICK_TIMEOUT_S).version
        except InferenceServerException as exc:
            raise GpupackError(
                f"no Triton server answers at {self.url} ({_message(exc)})",
                "check --triton-url (the gRPC port, default 8001) and that the server is running",
            ) from None

    def model_states(self) -> dict[str, str]:
        """Every model of the server's repository and its state (READY, UNAVAILABLE, LOADING, ...)."""
        try:
            index = self._client.get_model_repository_index(client_timeout=_QUICK_TIMEOUT_S)
        except InferenceServerException as exc:
            raise GpupackError(f"{self.url}: cannot list the model repository ({_message(exc)})") from None
        return {model.name: model.state or "UNAVAILABLE" for model in index.models}

    def load(self, model: str, timeout_s: float = LOAD_TIMEOUT_S) -> None:
        """Load ``model`` and wait until it is ready.

        Raises:
            ModelLoadError: the server could not load it (the message is the server's).

        """
        try:
            self._client.load_model(model, client_timeout=timeout_s)
        except InferenceServerException as exc:
            raise ModelLoadError(f"failed to load: {_LOAD_FAILED.sub('', _message(exc))}") from None

    def unload(self, model: str, timeout_s: float = UNLOAD_TIMEOUT_S) -> None:
        """Unload ``model`` and wait until the server has let it go (its stub process has exited).

        Raises:
            GpupackError: the server refused, or still holds the model after ``timeout_s``.

        """
        self.request_unload(model, timeout_s)
        self.wait_unloaded(model, timeout_s)

    def request_unload(self, model: str, timeout_s: float = UNLOAD_TIMEOUT_S) -> None:
        """Ask the server to unload ``model``; it goes on letting it go (``wait_unloaded``) in the background.

        Raises:
            GpupackError: the server refused.

        """
        try:
            self._client.unload_model(model, client_timeout=timeout_s)
        except InferenceServerException as exc:
            raise GpupackError(f"{model}: the server did not unload it ({_message(exc)})") from None

    def wait_unloaded(self, model: str, timeout_s: float = UNLOAD_TIMEOUT_S) -> None:
        """Wait until the server has let ``model`` go (its stub process has exited).

        Raises:
            GpupackError: it still holds the model after ``timeout_s``.

        """
        deadline = time.monotonic() + timeout_s
        while self.model_states().get(model) in ("READY", "UNLOADING", "LOADING"):
            if time.monotonic() > deadline:
                raise GpupackError(f"{model}: still loaded {timeout_s:.0f} s after the unload request")
            time.sleep(_POLL_S)

    def model_config(self, model: str) -> model_config_pb2.ModelConfig:
        """The configuration of a loaded model, as the server completed it."""
        try:
            return self._client.get_model_config(model, client_timeout=_QUICK_TIMEOUT_S).config
        except InferenceServerException as exc:
            raise GpupackError(f"{model}: cannot read its configuration ({_message(exc)})") from None
