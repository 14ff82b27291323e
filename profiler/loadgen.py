"""The built-in load generator: tritonclient's asyncio gRPC client, ``concurrency`` requests in flight.

Like perf_analyzer's concurrency mode: ``concurrency`` workers each send a request, wait for its
response, and send the next at once, so exactly ``concurrency`` requests are in flight. After a
warm-up (at least ``warmup_s`` and until every worker has had a response), time is cut into windows
of ``window_s``; measurement stops when the last 3 windows' throughputs agree within
±``stability_pct`` % of their mean, or after ``max_windows`` windows (the point is then recorded as
unstable, not dropped). The point's throughput and latency percentiles come from the last 3 windows.

A request that takes longer than ``request_timeout_s`` fails its point as timed out (the model hangs),
and the whole point has a deadline (``MeasureSettings.point_limit_s``), so that no model can hold
the sweep. The event loop runs with signals deferred (``signals.deferred``): Ctrl-C ends the point
between two polls, with every request cancelled and the client closed, and is raised after.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Protocol

import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from tritonclient.utils import InferenceServerException

from profiler import signals
from profiler.inputs import InputSpec
from profiler.stats import STABLE_WINDOWS, Window, summarize_windows, windows_agree

_WARMUP_POLL_S = 0.05
# How often a waiting measurement looks for a stop signal.
_SIGNAL_POLL_S = 0.1
# Closing the gRPC client after the requests are cancelled takes milliseconds; never wait longer.
_CLOSE_TIMEOUT_S = 5.0
# Over the warm-up, windows and a request timeout at each end: time for the event loop itself.
_POINT_SLACK_S = 10.0
# gRPC's status for a request past its deadline: the model did not answer in time.
_DEADLINE = "DEADLINE_EXCEEDED"


@dataclass(frozen=True)
class MeasureSettings:
    """How long and how steadily to measure one point (the CLI's --window, --warmup, ...)."""

    window_s: float = 2.0
    warmup_s: float = 2.0
    max_windows: int = 10
    stability_pct: float = 10.0
    request_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.window_s, self.warmup_s, self.request_timeout_s)):
            raise ValueError("window, warm-up and request timeout must be finite")
        if not self.window_s > 0 or self.warmup_s < 0 or not self.request_timeout_s > 0:
            raise ValueError("window and request timeout must be positive, warm-up not negative")
        if self.max_windows < STABLE_WINDOWS:
            raise ValueError(f"max windows must be at least {STABLE_WINDOWS}, got {self.max_windows}")
        if not 0 < self.stability_pct <= 100:
            raise ValueError(f"stability must be within (0, 100] %, got {self.stability_pct}")

    @property
    def point_limit_s(self) -> float:
        """The longest one point may take: warm-up, every window, a request timeout at each end."""
        return self.warmup_s + self.max_windows * self.window_s + 2 * self.request_timeout_s + _POINT_SLACK_S


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
    timed_out: bool = False

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


class BuiltinLoadGenerator:
    """Measures points against the gRPC endpoint ``url`` (``host:port``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = f"gpupack built-in (tritonclient {_tritonclient_version()}, gRPC asyncio)"

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
        limit = settings.point_limit_s
        with signals.deferred():
            try:
                return asyncio.run(
                    asyncio.wait_for(self._measure(model, inputs, batch_size, concurrency, settings), limit)
                )
            except _Stopped:
                pass  # leaving the deferred block raises the interrupt
            except asyncio.TimeoutError:
                return Measurement(
                    error=f"no result after {limit:.0f} s (the point's deadline)", timed_out=True
                )
            except InferenceServerException as exc:
                text = " ".join((exc.message() or str(exc)).split())
                return Measurement(
                    error=f"inference failed: {text}", timed_out=_DEADLINE in (exc.status() or "")
                )
        return Measurement(error="interrupted")

    async def _measure(
        self,
        model: str,
        inputs: list[grpcclient.InferInput],
        batch_size: int,
        concurrency: int,
        settings: MeasureSettings,
    ) -> Measurement:
        client = aioclient.InferenceServerClient(self.url)
        ends: list[float] = []
        latencies_ms: list[float] = []

        async def worker() -> None:
            while True:
                sent = time.monotonic()
                await client.infer(model, inputs, client_timeout=settings.request_timeout_s)
                done = time.monotonic()
                ends.append(done)
                latencies_ms.append((done - sent) * 1000)

        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        try:
            await _warm_up(tasks, ends, concurrency, settings)
            windows: list[Window] = []
            cursor, start = len(ends), time.monotonic()
            while True:
                await _wait(tasks, settings.window_s)
                # Completions are appended in time order on this one thread: the ones in the list now
                # ended before ``end``, and every later one ends after it.
                end, count = time.monotonic(), len(ends)
                windows.append(Window(start, end, tuple(latencies_ms[cursor:count])))
                cursor, start = count, end
                stable = windows_agree([w.throughput(batch_size) for w in windows], settings.stability_pct)
                if stable or len(windows) >= settings.max_windows:
                    return Measurement.from_windows(windows, batch_size, stable)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception, asyncio.TimeoutError):
                await asyncio.wait_for(client.close(), _CLOSE_TIMEOUT_S)


class _Stopped(Exception):
    """A stop signal arrived during the measurement (see ``signals.deferred``)."""


async def _wait(tasks: list[asyncio.Task[None]], seconds: float) -> None:
    """Sleep ``seconds``, but raise at once if a worker failed or a stop signal arrived.

    Workers only end by failing; a stop signal raises ``_Stopped``.
    """
    deadline = time.monotonic() + seconds
    while True:
        if signals.pending() is not None:
            raise _Stopped
        left = deadline - time.monotonic()
        if left <= 0:
            return
        done, _ = await asyncio.wait(
            tasks, timeout=min(left, _SIGNAL_POLL_S), return_when=asyncio.FIRST_EXCEPTION
        )
        for task in done:
            task.result()


async def _warm_up(
    tasks: list[asyncio.Task[None]], ends: list[float], concurrency: int, settings: MeasureSettings
) -> None:
    """At least ``warmup_s``, and until each worker has had a response (bounded by the request timeout)."""
    began = time.monotonic()
    while True:
        elapsed = time.monotonic() - began
        if elapsed >= settings.warmup_s and (
            len(ends) >= concurrency or elapsed >= settings.warmup_s + settings.request_timeout_s
        ):
            return
        await _wait(tasks, _WARMUP_POLL_S)
