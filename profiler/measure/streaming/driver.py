"""Streaming load: requests kept in flight on one gRPC stream (tritonclient's asyncio ``stream_infer``).

Closed loop (``concurrency`` c): c workers each send a request, wait for its final response, and send
the next at once, so c sequences are in flight. Open loop (``request_rate`` r): requests start at
Poisson arrivals of rate r/s, however many are in flight. Every request asks for an empty final
response (``triton_enable_empty_final_response``), so its end is seen even when the model sends the
FINAL flag without data; responses are matched to requests by request id.

Warm-up: closed loop, until every worker has had a complete response (the first sequences start
together and include one-time costs); open loop, ``warmup_s``. Then one window of ``duration_s``;
after it no request is sent, and those in flight are drained (so the next point starts with no
sequence in flight, and its memory is its own). A failed request fails the point with the server's
message; a request past ``request_timeout_s`` fails it as timed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient

from profiler.base import signals
from profiler.measure.arrivals import poisson_ticks
from profiler.measure.loadgen import inference_error
from profiler.measure.streaming.formats import OUTPUT_NAME, TensorValue
from profiler.measure.streaming.tokens import RequestTiming

_FINAL = "triton_final_response"
_EMPTY_FINAL = {"triton_enable_empty_final_response": True}
# Over the warm-up, the window and a request timeout at each end: time for the event loop itself.
_POINT_SLACK_S = 10.0
_POLL_S = 0.02
_CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class StreamSettings:
    """How long to measure one streaming point."""

    duration_s: float = 10.0
    warmup_s: float = 2.0
    request_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        values = (self.duration_s, self.warmup_s, self.request_timeout_s)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("duration, warm-up and request timeout must be finite")
        if not self.duration_s > 0 or self.warmup_s < 0 or not self.request_timeout_s > 0:
            raise ValueError("duration and request timeout must be positive, warm-up not negative")

    @property
    def point_limit_s(self) -> float:
        """The longest one point may take."""
        return self.warmup_s + self.duration_s + 3 * self.request_timeout_s + _POINT_SLACK_S


@dataclass(frozen=True)
class StreamLoad:
    """One model at one point: its gRPC ``host:port``, the requests to cycle through, the load."""

    url: str
    model: str
    requests: tuple[tuple[TensorValue, ...], ...]
    concurrency: int = 0
    request_rate: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.requests:
            raise ValueError("a streaming load needs at least one request")
        if (self.request_rate is None) == (self.concurrency == 0):
            raise ValueError("give a concurrency (closed loop) or a request rate (open loop), not both")
        if self.concurrency < 0 or (self.request_rate is not None and not self.request_rate > 0):
            raise ValueError("concurrency and request rate must be positive")


@dataclass(frozen=True)
class StreamMeasurement:
    """What one point saw: every request's timing, the measured window, when traffic began."""

    timings: tuple[RequestTiming, ...] = ()
    start: float = 0.0
    end: float = 0.0
    traffic_start: float = 0.0
    error: str = ""
    timed_out: bool = False


def measure_stream(load: StreamLoad, settings: StreamSettings) -> StreamMeasurement:
    """Drive ``load`` for one point (see the module docstring); errors become the measurement's."""
    with signals.deferred():  # leaving it raises a stop signal that arrived
        return asyncio.run(measure_stream_async(load, settings))


async def measure_stream_async(load: StreamLoad, settings: StreamSettings) -> StreamMeasurement:
    """``measure_stream`` as a coroutine, for a caller driving other loads in the same event loop.

    gRPC's asyncio client wants one event loop: loads measured at once share it rather than run
    event loops in several threads.
    """
    limit = settings.point_limit_s
    try:
        return await asyncio.wait_for(_measure(load, settings), limit)
    except _Stopped:
        return StreamMeasurement(error="interrupted")
    except asyncio.TimeoutError:
        return StreamMeasurement(
            error=f"no result after {limit:.0f} s (the point's deadline)", timed_out=True
        )


class _Stopped(Exception):
    """A stop signal arrived during the measurement (see ``signals.deferred``)."""


@dataclass
class _Live:
    sent: float
    tokens: list[float] = field(default_factory=list)
    done: float | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def timing(self) -> RequestTiming:
        return RequestTiming(self.sent, tuple(self.tokens), self.done)


class _Stream:
    """One bidirectional stream: requests go in through a queue; responses are matched by id."""

    def __init__(self, client: aioclient.InferenceServerClient, load: StreamLoad, timeout_s: float) -> None:
        self.client = client
        self.load = load
        self.timeout_s = timeout_s
        self.queue: asyncio.Queue[dict | None] = asyncio.Queue()
        self.live: dict[str, _Live] = {}
        self.all: list[_Live] = []
        self.ids = itertools.count()
        self.inputs = [_infer_inputs(r) for r in load.requests]
        self.error = ""
        self.timed_out = False
        self.stop_at = math.inf  # no request is sent from then on (set once the warm-up is over)

    async def _requests(self) -> AsyncIterator[dict]:
        while (item := await self.queue.get()) is not None:
            yield item

    async def read(self) -> None:
        """Record each response's arrival until the stream ends or fails."""
        try:
            async for result, error in self.client.stream_infer(self._requests()):
                now = time.monotonic()
                if error is not None:
                    self.fail(inference_error(error))
                    return
                response = result.get_response()
                live = self.live.get(response.id)
                if live is None:
                    continue
                if any(o.name == OUTPUT_NAME for o in response.outputs):
                    live.tokens.append(now)
                if _FINAL in response.parameters and response.parameters[_FINAL].bool_param:
                    live.done = now
                    del self.live[response.id]
                    live.finished.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream broke (server gone, gRPC error): the point fails
            self.fail(f"the stream failed: {' '.join(str(exc).split())}")

    def fail(self, message: str, timed_out: bool = False) -> None:
        if not self.error:
            self.error, self.timed_out = message, timed_out
        for live in self.live.values():
            live.finished.set()

    async def send(self) -> None:
        """Send one request (the next in the cycle) and wait for its final response."""
        number = next(self.ids)
        request_id = str(number)
        live = _Live(sent=time.monotonic())
        self.live[request_id] = live
        self.all.append(live)
        inputs = self.inputs[number % len(self.inputs)]
        await self.queue.put(
            {
                "model_name": self.load.model,
                "inputs": inputs,
                "request_id": request_id,
                "parameters": _EMPTY_FINAL,
            }
        )
        try:
            await asyncio.wait_for(live.finished.wait(), self.timeout_s)
        except asyncio.TimeoutError:
            self.fail(f"a request got no final response within {self.timeout_s:g} s", timed_out=True)

    def completed(self) -> int:
        return sum(1 for live in self.all if live.done is not None)


def _infer_inputs(tensors: Sequence[TensorValue]) -> list[grpcclient.InferInput]:
    inputs = []
    for tensor in tensors:
        infer_input = grpcclient.InferInput(tensor.name, tensor.shape, tensor.datatype)
        infer_input.set_data_from_numpy(tensor.value)
        inputs.append(infer_input)
    return inputs


async def _closed_loop(stream: _Stream, workers: int) -> None:
    async def worker() -> None:
        while not stream.error and time.monotonic() < stream.stop_at:
            await stream.send()

    await asyncio.gather(*(worker() for _ in range(workers)))


async def _open_loop(stream: _Stream, rate: float, seed: int) -> None:
    tasks = []
    async for _ in poisson_ticks(rate, seed):
        if time.monotonic() >= stream.stop_at or stream.error:
            break
        tasks.append(asyncio.create_task(stream.send()))
    await asyncio.gather(*tasks)


async def _pause(seconds: float) -> None:
    """Sleep, looking for a stop signal every ``_POLL_S``."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if signals.pending() is not None:
            raise _Stopped
        await asyncio.sleep(min(left, _POLL_S))


async def _warm_up(stream: _Stream, load: StreamLoad, settings: StreamSettings, began: float) -> None:
    if load.request_rate is not None:
        await _pause(settings.warmup_s)
        return
    while not stream.error and stream.completed() < load.concurrency:
        if time.monotonic() - began > settings.warmup_s + settings.request_timeout_s:
            stream.fail("no response to the first requests within the request timeout", timed_out=True)
            return
        await _pause(_POLL_S)


async def _measure(load: StreamLoad, settings: StreamSettings) -> StreamMeasurement:
    client = aioclient.InferenceServerClient(load.url)
    stream = _Stream(client, load, settings.request_timeout_s)
    reader = asyncio.create_task(stream.read())
    began = time.monotonic()
    if load.request_rate is None:
        traffic = asyncio.create_task(_closed_loop(stream, load.concurrency))
    else:
        traffic = asyncio.create_task(_open_loop(stream, load.request_rate, load.seed))
    try:
        await _warm_up(stream, load, settings, began)
        start = time.monotonic()
        stream.stop_at = start + settings.duration_s
        while not traffic.done():  # the window, then the drain
            await _pause(_POLL_S)
        if stream.error:
            return StreamMeasurement(error=stream.error, timed_out=stream.timed_out)
        timings = tuple(live.timing() for live in stream.all)
        return StreamMeasurement(timings, start, stream.stop_at, began)
    finally:
        for task in (traffic, reader):
            task.cancel()
        await asyncio.gather(traffic, reader, return_exceptions=True)
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(client.close(), _CLOSE_TIMEOUT_S)
