"""The built-in load generator: tritonclient's asyncio gRPC client, ``concurrency`` requests in flight.

Like perf_analyzer's concurrency mode: ``concurrency`` workers each send a request, wait for its
response, and send the next at once, so exactly ``concurrency`` requests are in flight. After a
warm-up (at least ``warmup_s`` and until every worker has had a response), time is cut into windows
of ``window_s``; measurement stops when the last 3 windows' throughputs agree within
±``stability_pct`` % of their mean, or after ``max_windows`` windows (the point is then recorded as
unstable, not dropped). The point's throughput and latency percentiles come from the last 3 windows.

Several loads (models, possibly on several servers) can be driven at once in one asyncio loop
(``measure_loads``, for ``gpupack validate``): the windows are cut at the same instants for all of
them, and measurement stops when every load's last 3 windows agree (or after ``max_windows``). A load
whose request fails stops there with the server's message as its error; the others go on.

A request that takes longer than ``request_timeout_s`` fails its load as timed out (the model hangs),
and the whole measurement has a deadline (``MeasureSettings.point_limit_s``), so that no model can
hold a sweep. The event loop runs with signals deferred (``signals.deferred``): Ctrl-C ends the
measurement between two polls, with every request cancelled and the clients closed, and is raised
after.

Open loop instead (a ``request_rate`` r, concurrency 0; perf_analyzer's ``--request-rate-range r
--request-distribution poisson``): requests start at the Poisson arrivals of rate r/s
(``arrivals.poisson_ticks``, seeded), whatever is in flight, so a model slower than r queues them and
its latency grows. The warm-up is ``warmup_s``; the windows are cut as above from the completions. At
most ``OPEN_LOOP_MAX_IN_FLIGHT`` requests are in flight: an arrival past it is dropped and counted in
its window, and a point with drops in its last windows is recorded as unstable (the rate is more than
the model sustains).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Protocol

import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from tritonclient.utils import InferenceServerException

from profiler.base import signals
from profiler.measure.arrivals import poisson_ticks
from profiler.measure.inputs import InputSpec
from profiler.measure.stats import STABLE_WINDOWS, Window, summarize_windows, windows_agree

_WARMUP_POLL_S = 0.05
# How often a waiting measurement looks for a stop signal.
_SIGNAL_POLL_S = 0.1
# Closing the gRPC client after the requests are cancelled takes milliseconds; never wait longer.
_CLOSE_TIMEOUT_S = 5.0
# Over the warm-up, windows and a request timeout at each end: time for the event loop itself.
_POINT_SLACK_S = 10.0
# gRPC's status for a request past its deadline: the model did not answer in time.
_DEADLINE = "DEADLINE_EXCEEDED"
# Open loop: requests in flight at most (one asyncio task and gRPC call each). Far above rate x latency
# of any rate a model sustains (1,000 requests/s at 100 ms is 100), so only an overloaded point drops.
OPEN_LOOP_MAX_IN_FLIGHT = 1000


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
    failed_requests: int = 0
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
        self,
        model: str,
        specs: Sequence[InputSpec],
        concurrency: int,
        settings: MeasureSettings,
        request_rate: float | None = None,
    ) -> Measurement:
        """Measure ``model`` with requests shaped by ``specs``: ``concurrency`` in flight, or open loop.

        ``request_rate``: Poisson arrivals per second (open loop); ``concurrency`` is then 0.
        """


def _tritonclient_version() -> str:
    try:
        return metadata.version("tritonclient")
    except metadata.PackageNotFoundError:  # e.g. put on PYTHONPATH by the GPU host's bundle
        return "unknown version"


@dataclass(frozen=True)
class Load:
    """One model driven at one point: its server's gRPC ``host:port``, its inputs, the load.

    The load is ``concurrency`` requests in flight (closed loop), or ``request_rate`` Poisson arrivals
    per second (open loop, ``concurrency`` 0) drawn from ``seed``.
    """

    url: str
    model: str
    specs: tuple[InputSpec, ...]
    concurrency: int
    request_rate: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.request_rate is not None:
            if self.concurrency != 0 or not (math.isfinite(self.request_rate) and self.request_rate > 0):
                raise ValueError(f"an open-loop load has concurrency 0 and a positive rate, got {self}")
        elif self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")

    @property
    def batch_size(self) -> int:
        """Samples per request (1 for a model that does not batch)."""
        return max([spec.batch_size for spec in self.specs] + [1])


class BuiltinLoadGenerator:
    """Measures points against the gRPC endpoint ``url`` (``host:port``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = f"gpupack built-in (tritonclient {_tritonclient_version()}, gRPC asyncio)"

    def measure(
        self,
        model: str,
        specs: Sequence[InputSpec],
        concurrency: int,
        settings: MeasureSettings,
        request_rate: float | None = None,
    ) -> Measurement:
        """Measure one point; inference errors become the measurement's ``error``."""
        load = Load(self.url, model, tuple(specs), concurrency, request_rate)
        return measure_loads([load], settings)[0]


def measure_loads(loads: Sequence[Load], settings: MeasureSettings) -> tuple[Measurement, ...]:
    """Drive every load at once and measure each, in ``loads``' order (see the module docstring)."""
    if not loads:
        return ()
    with signals.deferred():  # leaving it raises a stop signal that arrived
        return asyncio.run(measure_loads_async(loads, settings))


async def measure_loads_async(loads: Sequence[Load], settings: MeasureSettings) -> tuple[Measurement, ...]:
    """``measure_loads`` as a coroutine, for a caller driving other loads (streams) in the same event loop."""
    limit = settings.point_limit_s
    try:
        return await asyncio.wait_for(_measure_loads(loads, settings), limit)
    except _Stopped:
        return tuple(Measurement(error="interrupted") for _ in loads)
    except asyncio.TimeoutError:
        failed = Measurement(error=f"no result after {limit:.0f} s (the point's deadline)", timed_out=True)
        return tuple(failed for _ in loads)


def infer_inputs(specs: Sequence[InputSpec]) -> list[grpcclient.InferInput]:
    """The request's input tensors, filled with the specs' seeded data."""
    inputs = []
    for spec in specs:
        tensor = grpcclient.InferInput(spec.name, list(spec.shape), spec.datatype)
        tensor.set_data_from_numpy(spec.array())
        inputs.append(tensor)
    return inputs


def inference_error(exc: InferenceServerException) -> str:
    """``inference failed: <the server's message on one line>``."""
    return "inference failed: " + " ".join((exc.message() or str(exc)).split())


class _Driver:
    """One load's workers, their completions (in time order) and the windows cut from them."""

    def __init__(self, load: Load, client: aioclient.InferenceServerClient) -> None:
        self.load = load
        self.client = client
        self.inputs = infer_inputs(load.specs)
        self.ends: list[float] = []
        self.latencies_ms: list[float] = []
        self.windows: list[Window] = []
        self.cursor = 0
        self.error = ""
        self.failed_requests = 0
        self.timed_out = False
        self.in_flight: set[asyncio.Task] = set()
        self.dropped = 0  # open-loop arrivals past OPEN_LOOP_MAX_IN_FLIGHT
        self.window_drops: list[int] = []
        self.warmup_drops = 0  # arrivals dropped before the first window (``begin``)

    def tasks(self, timeout_s: float, failed: asyncio.Event) -> list[asyncio.Task]:
        """The load's traffic: ``concurrency`` closed-loop workers, or the open-loop arrivals."""
        if self.load.request_rate is not None:
            return [asyncio.create_task(self.arrivals(self.load.request_rate, timeout_s, failed))]
        return [asyncio.create_task(self.worker(timeout_s, failed)) for _ in range(self.load.concurrency)]

    async def worker(self, timeout_s: float, failed: asyncio.Event) -> None:
        while not self.error and await self.request(timeout_s, failed):
            pass

    async def arrivals(self, rate: float, timeout_s: float, failed: asyncio.Event) -> None:
        """Start a request at each Poisson arrival, whatever is in flight (up to the cap)."""
        try:
            async for _ in poisson_ticks(rate, self.load.seed):
                if self.error:
                    return
                if len(self.in_flight) >= OPEN_LOOP_MAX_IN_FLIGHT:
                    self.dropped += 1
                    continue
                task = asyncio.create_task(self.request(timeout_s, failed))
                self.in_flight.add(task)
                task.add_done_callback(self.in_flight.discard)
        finally:
            for task in list(self.in_flight):
                task.cancel()
            await asyncio.gather(*self.in_flight, return_exceptions=True)

    async def request(self, timeout_s: float, failed: asyncio.Event) -> bool:
        """Send one request and record its latency; False (and the load's error set) when it failed."""
        sent = time.monotonic()
        try:
            await self.client.infer(self.load.model, self.inputs, client_timeout=timeout_s)
        except InferenceServerException as exc:
            self.failed_requests += 1
            self.error = self.error or inference_error(exc)
            self.timed_out = self.timed_out or _DEADLINE in (exc.status() or "")
            failed.set()
            return False
        done = time.monotonic()
        self.ends.append(done)
        self.latencies_ms.append((done - sent) * 1000)
        return True

    def begin(self) -> None:
        """The warm-up is over: the first window counts only what completes (or is dropped) from now.

        Without it the first window also held the warm-up's completions, so its throughput never
        agreed with the next ones and every point took one window more than its stability needed.
        """
        self.cursor = len(self.ends)
        self.warmup_drops = self.dropped
        self.windows, self.window_drops = [], []

    def cut(self, start: float, end: float) -> None:
        """Close a window: the completions since the last cut ended before ``end`` (one thread appends)."""
        count = len(self.ends)
        self.windows.append(Window(start, end, tuple(self.latencies_ms[self.cursor : count])))
        self.window_drops.append(self.dropped - self.warmup_drops - sum(self.window_drops))
        self.cursor = count

    def recent_drops(self) -> int:
        """Arrivals dropped in the windows a measurement uses."""
        return sum(self.window_drops[-STABLE_WINDOWS:])

    def stable(self, stability_pct: float) -> bool:
        batch = self.load.batch_size
        throughputs = [w.throughput(batch) for w in self.windows]
        return windows_agree(throughputs, stability_pct) and not self.recent_drops()

    def measurement(self, stability_pct: float) -> Measurement:
        if self.error:
            return Measurement(
                windows=len(self.windows),
                error=self.error,
                failed_requests=self.failed_requests,
                timed_out=self.timed_out,
            )
        stable = self.stable(stability_pct)
        measured = Measurement.from_windows(self.windows, self.load.batch_size, stable)
        return dataclasses.replace(measured, failed_requests=self.recent_drops())


async def _measure_loads(loads: Sequence[Load], settings: MeasureSettings) -> tuple[Measurement, ...]:
    clients = {url: aioclient.InferenceServerClient(url) for url in dict.fromkeys(load.url for load in loads)}
    drivers = [_Driver(load, clients[load.url]) for load in loads]
    failed = asyncio.Event()
    tasks = [task for driver in drivers for task in driver.tasks(settings.request_timeout_s, failed)]
    try:
        await _warm_up(drivers, failed, settings)
        for driver in drivers:
            driver.begin()
        start = time.monotonic()
        while any(not d.error for d in drivers):
            await _wait(failed, settings.window_s)
            end = time.monotonic()
            live = [d for d in drivers if not d.error]
            for driver in live:
                driver.cut(start, end)
            start = end
            windows = max((len(d.windows) for d in live), default=0)
            if all(d.stable(settings.stability_pct) for d in live) or windows >= settings.max_windows:
                break
        return tuple(driver.measurement(settings.stability_pct) for driver in drivers)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients.values():
            with contextlib.suppress(Exception, asyncio.TimeoutError):
                await asyncio.wait_for(client.close(), _CLOSE_TIMEOUT_S)


class _Stopped(Exception):
    """A stop signal arrived during the measurement (see ``signals.deferred``)."""


async def _wait(failed: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, but return at once when a worker fails (so that a lone failing load ends now).

    A stop signal raises ``_Stopped`` within ``_SIGNAL_POLL_S``.
    """
    deadline = time.monotonic() + seconds
    while True:
        if signals.pending() is not None:
            raise _Stopped
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            await asyncio.wait_for(failed.wait(), timeout=min(left, _SIGNAL_POLL_S))
        except asyncio.TimeoutError:
            continue
        failed.clear()
        return


async def _warm_up(drivers: Sequence[_Driver], failed: asyncio.Event, settings: MeasureSettings) -> None:
    """At least ``warmup_s``, and until each worker has had a response (bounded by the request timeout)."""
    began = time.monotonic()
    while any(not d.error for d in drivers):
        elapsed = time.monotonic() - began
        answered = all(len(d.ends) >= d.load.concurrency for d in drivers if not d.error)
        if elapsed >= settings.warmup_s and (
            answered or elapsed >= settings.warmup_s + settings.request_timeout_s
        ):
            return
        await _wait(failed, _WARMUP_POLL_S)
