"""The built-in load generator: tritonclient's gRPC client, ``concurrency`` requests in flight.

Like perf_analyzer's concurrency mode: ``concurrency`` worker threads, each with its own client, send
a request, wait for its response, and send the next at once, so exactly ``concurrency`` requests are
in flight. Threads with blocking calls, not asyncio: gRPC releases the GIL while a call waits, and on
the 2-core CPU host the identity model went from 2,600 to 3,650 infer/s at concurrency 1 (4,750 to
5,500 at 4) against the asyncio client this module used first. After a
warm-up (at least ``warmup_s`` and until every worker has had a response), time is cut into windows
of ``window_s``; measurement stops when the last 3 windows' throughputs agree within
±``stability_pct`` % of their mean, or after ``max_windows`` windows (the point is then recorded as
unstable, not dropped). The point's throughput and latency percentiles come from the last 3 windows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Protocol

import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from profiler.inputs import InputSpec
from profiler.stats import STABLE_WINDOWS, Window, summarize_windows, windows_agree

_WARMUP_POLL_S = 0.05


@dataclass(frozen=True)
class MeasureSettings:
    """How long and how steadily to measure one point (the CLI's --window, --warmup, ...)."""

    window_s: float = 2.0
    warmup_s: float = 2.0
    max_windows: int = 10
    stability_pct: float = 10.0
    request_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.window_s > 0 or self.warmup_s < 0 or not self.request_timeout_s > 0:
            raise ValueError("window and request timeout must be positive, warm-up not negative")
        if self.max_windows < STABLE_WINDOWS:
            raise ValueError(f"max windows must be at least {STABLE_WINDOWS}, got {self.max_windows}")
        if not 0 < self.stability_pct <= 100:
            raise ValueError(f"stability must be within (0, 100] %, got {self.stability_pct}")


@dataclass(frozen=True)
class Measurement:
    """The result of measuring one point; with an ``error``, nothing else is meaningful."""

    throughput: float | None = None
    latency_p50_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    stable: bool = False
    windows: int = 0
    start: float = 0.0
    end: float = 0.0
    error: str = ""

    @classmethod
    def from_windows(cls, windows: Sequence[Window], batch_size: int, stable: bool) -> Measurement:
        """Summarize the last ``STABLE_WINDOWS`` windows of a run of ``len(windows)``."""
        used = windows[-STABLE_WINDOWS:]
        try:
            summary = summarize_windows(used, batch_size)
        except ValueError:
            return cls(
                windows=len(windows),
                error=f"no request completed in the last {len(used)} windows: requests take longer "
                "than --window",
            )
        return cls(
            throughput=summary.throughput,
            latency_p50_ms=summary.latency_ms[50],
            latency_p90_ms=summary.latency_ms[90],
            latency_p95_ms=summary.latency_ms[95],
            latency_p99_ms=summary.latency_ms[99],
            stable=stable,
            windows=len(windows),
            start=summary.start,
            end=summary.end,
        )


class LoadEngine(Protocol):
    """Something that measures one point: the built-in generator or perf_analyzer."""

    description: str

    def measure(
        self, model: str, specs: Sequence[InputSpec], concurrency: int, settings: MeasureSettings
    ) -> Measurement:
        """Measure ``model`` with requests shaped by ``specs``, ``concurrency`` in flight."""


def _tritonclient_version() -> str:
    try:
        return metadata.version("tritonclient")
    except metadata.PackageNotFoundError:  # e.g. put on PYTHONPATH by the GPU host's bundle
        return "unknown version"


class _Completions:
    """Completion times and latencies, appended by the workers and cut into windows by the caller.

    One lock orders appends and cuts: every completion before a cut ended before the cut's time.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ends: list[float] = []
        self.latencies_ms: list[float] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def add(self, sent: float) -> None:
        with self.lock:
            done = time.monotonic()
            self.ends.append(done)
            self.latencies_ms.append((done - sent) * 1000)

    def cut(self) -> tuple[float, int]:
        """The time now and the number of completions so far."""
        with self.lock:
            return time.monotonic(), len(self.ends)

    def fail(self, error: BaseException) -> None:
        self.error = self.error or error
        self.stop.set()

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, but raise at once if a worker failed."""
        self.stop.wait(seconds)
        if self.error is not None:
            raise self.error


class BuiltinLoadGenerator:
    """Measures points against the gRPC endpoint ``url`` (``host:port``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = f"gpupack built-in (tritonclient {_tritonclient_version()}, gRPC, threads)"

    def measure(
        self, model: str, specs: Sequence[InputSpec], concurrency: int, settings: MeasureSettings
    ) -> Measurement:
        """Measure one point; inference errors become the measurement's ``error``."""
        inputs = []
        for spec in specs:
            tensor = grpcclient.InferInput(spec.name, list(spec.shape), spec.datatype)
            tensor.set_data_from_numpy(spec.array())
            inputs.append(tensor)
        batch_size = max([spec.batch_size for spec in specs] + [1])
        completions = _Completions()

        def worker() -> None:
            client = grpcclient.InferenceServerClient(self.url)
            try:
                while not completions.stop.is_set():
                    sent = time.monotonic()
                    client.infer(model, inputs, client_timeout=settings.request_timeout_s)
                    completions.add(sent)
            except BaseException as exc:  # handed to the measuring thread, which raises it
                completions.fail(exc)
            finally:
                client.close()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        try:
            _warm_up(completions, concurrency, settings)
            return _windows(completions, batch_size, settings)
        except InferenceServerException as exc:
            return Measurement(error="inference failed: " + " ".join((exc.message() or str(exc)).split()))
        finally:
            completions.stop.set()
            for thread in threads:
                thread.join(settings.request_timeout_s)


def _warm_up(completions: _Completions, concurrency: int, settings: MeasureSettings) -> None:
    """At least ``warmup_s``, and until each worker has had a response (bounded by the request timeout)."""
    began = time.monotonic()
    while True:
        elapsed = time.monotonic() - began
        if elapsed >= settings.warmup_s and (
            len(completions.ends) >= concurrency or elapsed >= settings.warmup_s + settings.request_timeout_s
        ):
            return
        completions.wait(_WARMUP_POLL_S)


def _windows(completions: _Completions, batch_size: int, settings: MeasureSettings) -> Measurement:
    """Cut windows until the last 3 agree or ``max_windows`` have passed."""
    windows: list[Window] = []
    start, cursor = completions.cut()
    while True:
        completions.wait(settings.window_s)
        end, count = completions.cut()
        windows.append(Window(start, end, tuple(completions.latencies_ms[cursor:count])))
        start, cursor = end, count
        stable = windows_agree([w.throughput(batch_size) for w in windows], settings.stability_pct)
        if stable or len(windows) >= settings.max_windows:
            return Measurement.from_windows(windows, batch_size, stable)
