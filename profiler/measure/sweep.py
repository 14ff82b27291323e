"""The sweep: every model at every (batch size, load) point, one model loaded at a time.

A load is a concurrency (closed loop) or a request rate (open loop, Poisson arrivals; the point's
concurrency is then 0): each batch size is measured at every concurrency, then at every rate.

First the server alone (no model loaded) for the baseline; then, per model: load, measure each point
not yet in the output, unload (and wait until the server has let it go, so that each model's memory
is its own). With ``reload_per_batch`` (the default) the model is also unloaded and loaded again
before each new batch size: what a batch size takes from a fresh load (its first request, e.g. a CUDA
graph captured at first use, and what the allocator keeps) is then measured as a server that serves
that batch size sees it, not on top of the smaller batch sizes' leftovers.

After every point the whole profile is rewritten atomically, so Ctrl-C or a crash keeps everything
finished, and ``--resume`` skips what is there. A model that fails to load gets an error
row per point and the sweep goes on; so does a point whose requests fail (e.g. out of memory).

A model can also take the server down with it: its requests time out (it hangs), its stub process
dies, the server itself exits, or the model won't unload. Then the point is recorded with the reason,
the model's remaining points are recorded as not measured with the same reason, the server is
recovered (``ServerHandle.recover``: restarted when it is ours) and the sweep goes on with the next
model. A profile that can no longer be written stops the sweep; the points not written are in the
outcome (the CLI prints them), so nothing measured is lost.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from profiler.base import signals
from profiler.base.errors import GpupackError, OutputError
from profiler.measure.inputs import InputSpec, input_specs, instance_count
from profiler.measure.loadgen import LoadEngine, Measurement, MeasureSettings
from profiler.measure.sampler import ResourceUse, Sampler
from profiler.measure.stats import eta_seconds
from profiler.profiles.profile_io import write_profile
from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint, ServerBaseline
from profiler.server.triton import ModelLoadError, TritonControl

# The server alone: long enough for ~20 samples and two CPU-rate spans (sampler.CPU_RATE_SPAN_S).
BASELINE_S = 2.0
# The Python backend's words for a model whose stub process died: every later request fails, and the
# server can't unload the model (it waits for the dead stub), so the model is done for.
STUB_DIED = "is not healthy"
# Unloading after an interrupt, on a server we don't own: leave it as found, but don't hang on it.
INTERRUPTED_UNLOAD_S = 10.0
# Unloading to reload for the next batch size: past this, a server of ours is restarted instead.
RELOAD_UNLOAD_S = 30.0

# (batch size, concurrency, request rate): a closed-loop point has no rate, an open-loop one concurrency 0.
GridPoint = tuple[int, int, float | None]


def load_text(concurrency: int, request_rate: float | None) -> str:
    """``concurrency 4`` or ``rate 20 requests/s``: a point's load, for messages."""
    return f"concurrency {concurrency}" if request_rate is None else f"rate {request_rate:g} requests/s"


class ServerHandle(Protocol):
    """The server the sweep runs against, as far as the sweep acts on it."""

    control: TritonControl
    owned: bool

    def failure(self, after_error: bool = False) -> str | None:
        """Why the server is gone (e.g. ``tritonserver exited unexpectedly (...)``), None while it runs.

        ``after_error``: a request just failed, so the server may be dying; give it a moment.
        """

    def recover(self, reason: str) -> None:
        """Make the server usable again (a restart, with a fresh ``control``), or raise GpupackError."""


@dataclass(frozen=True)
class SweepSpec:
    """What to measure: models × batch sizes × (concurrencies + request rates), shapes for dynamic dims."""

    models: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    concurrencies: tuple[int, ...]
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    reload_per_batch: bool = True
    request_rates: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.models or not self.batch_sizes or not (self.concurrencies or self.request_rates):
            raise ValueError("a sweep needs at least one model, batch size and concurrency or rate")
        if len(set(self.models)) != len(self.models):
            raise ValueError("a model is listed twice")

    @property
    def grid(self) -> list[GridPoint]:
        """The (batch size, concurrency, request rate) points of every model, in sweep order."""
        loads = [(c, None) for c in self.concurrencies] + [(0, r) for r in self.request_rates]
        return [(b, c, r) for b in self.batch_sizes for c, r in loads]


@dataclass(frozen=True)
class Progress:
    """One point finished (measured or failed)."""

    done: int
    total: int
    point: ProfilePoint
    elapsed_s: float
    eta_s: float | None


class Reporter(Protocol):
    """Where the sweep tells how it goes (the CLI prints to stderr; tests collect)."""

    def progress(self, event: Progress) -> None:
        """A point finished."""

    def notice(self, message: str) -> None:
        """Something the user should know, said once."""


@dataclass(frozen=True)
class SweepOutcome:
    """What the sweep did; ``profile`` is None when nothing at all was measured or found."""

    profile: Profile | None
    measured: int
    failed: int
    skipped: int
    interrupted: bool
    elapsed_s: float
    stop_signal: int | None = None  # the signal that interrupted the sweep
    write_error: OutputError | None = None  # the profile could not be written; ``profile`` has it all
    unsaved: int = 0  # points measured after the last successful write


def done_keys(existing: Profile | None) -> set[tuple[str, int, int, float | None]]:
    """(model, batch, concurrency, rate) of the points a resumed sweep skips: those measured without error."""
    if existing is None:
        return set()
    return {_sweep_key(p) for p in existing.points if p.ok}


def _sweep_key(p: ProfilePoint) -> tuple[str, int, int, float | None]:
    return (p.model, p.batch_size, p.concurrency, p.request_rate)


def measured_point(
    model: str, batch: int, concurrency: int, m: Measurement, use: ResourceUse, **columns: object
) -> ProfilePoint:
    """The profile row of one measurement: its throughput, latencies and resource use, or its error.

    ``columns`` are the point's other columns (its instance count, a config search's variant).
    """
    if m.error:
        return ProfilePoint(model, batch, concurrency, stable=False, error=m.error, **columns)
    return ProfilePoint(
        model,
        batch,
        concurrency,
        throughput=m.throughput,
        latency_p50_ms=m.latency_p50_ms,
        latency_p90_ms=m.latency_p90_ms,
        latency_p95_ms=m.latency_p95_ms,
        latency_p99_ms=m.latency_p99_ms,
        stable=m.stable,
        **columns,
        **dataclasses.asdict(use),
    )


class Sweep:
    """Runs one sweep against a ready server; see the module docstring for the order of things."""

    def __init__(
        self,
        server: ServerHandle,
        engine: LoadEngine,
        sampler: Sampler,
        output: Path,
        reporter: Reporter,
    ) -> None:
        self.server = server
        self.engine = engine
        self.sampler = sampler
        self.output = output
        self.reporter = reporter
        self._profile = Profile(points=())
        self._order: tuple[str, ...] = ()
        self._started = 0.0
        self._done = 0
        self._total = 0
        self._failed = 0
        self._unsaved = 0

    def run(
        self, spec: SweepSpec, metadata: ProfileMetadata, existing: Profile | None = None
    ) -> SweepOutcome:
        """Measure every point of ``spec`` not already (without error) in ``existing``."""
        self._started = time.monotonic()
        self._order = spec.models
        skip = done_keys(existing)
        todo = {m: [(b, c, r) for b, c, r in spec.grid if (m, b, c, r) not in skip] for m in spec.models}
        self._total = sum(len(points) for points in todo.values())
        skipped = len(spec.grid) * len(spec.models) - self._total
        stop_signal, write_error = None, None
        try:
            server = self._baseline(existing)
            self._profile = Profile(
                points=existing.points if existing else (), server=server, metadata=metadata
            )
            for model in spec.models:
                if todo[model]:
                    self._model(model, todo[model], spec)
        except KeyboardInterrupt as exc:
            stop_signal = signals.exit_code(exc) - 128
        except OutputError as exc:
            write_error = exc
        return SweepOutcome(
            profile=self._profile if self._profile.points else existing,
            measured=self._done - self._failed,
            failed=self._failed,
            skipped=skipped,
            interrupted=stop_signal is not None,
            elapsed_s=time.monotonic() - self._started,
            stop_signal=stop_signal,
            write_error=write_error,
            unsaved=self._unsaved,
        )

    def _baseline(self, existing: Profile | None) -> ServerBaseline:
        """The server alone, unless a resumed profile already has it."""
        if existing is not None and any(v is not None for v in dataclasses.astuple(existing.server)):
            return existing.server
        if not self.sampler.has_sources:
            return ServerBaseline()
        start = self.sampler.now()
        time.sleep(BASELINE_S)
        return ServerBaseline(**dataclasses.asdict(self.sampler.use(start, self.sampler.now())))

    def _model(self, model: str, points: Sequence[GridPoint], spec: SweepSpec) -> None:
        """Load, measure every point, unload; recover the server whenever the model takes it down."""
        lost = self.server.failure()
        if lost:  # it died after the last model was done with it: not this model's fault
            self._recover(lost)
        try:
            self.server.control.load(model)
        except ModelLoadError as exc:
            lost = self.server.failure(after_error=True)
            self._fail(model, points, lost or exc.message)
            if lost:
                self._recover(lost)
            return
        pending = list(points)
        try:
            trouble = self._points(model, pending, spec)
        except BaseException as exc:
            self._leave(model, interrupted=isinstance(exc, KeyboardInterrupt))
            raise
        if trouble:
            self._fail(model, pending, f"not measured: {trouble}")
            self._recover(trouble)
            return
        try:
            self.server.control.unload(model)
        except GpupackError as exc:
            self._recover(self.server.failure(after_error=True) or exc.message)

    def _points(self, model: str, pending: list[GridPoint], spec: SweepSpec) -> str | None:
        """Measure ``pending`` in order, removing each point once recorded.

        Returns the trouble that stopped the model early (it hangs, its stub died, the server
        died), else None.
        """
        try:
            config = self.server.control.model_config(model)
        except GpupackError:
            lost = self.server.failure(after_error=True)
            if lost is None:
                raise
            return lost
        instances = instance_count(config)
        shapes = dict(spec.shapes)
        specs: dict[int, tuple[InputSpec, ...]] = {
            b: input_specs(model, config, b, shapes) for b in dict.fromkeys(b for b, _, _ in pending)
        }
        loaded_for = pending[0][0] if pending else None
        while pending:
            b, c, rate = pending[0]
            if b != loaded_for and spec.reload_per_batch:
                trouble = self._reload(model)
                if trouble:
                    return trouble
            loaded_for = b
            first_request = self.sampler.now()  # memory from here: first-request allocations count
            measurement = self.engine.measure(model, specs[b], c, spec.settings, request_rate=rate)
            lost = self.server.failure(after_error=True) if measurement.error else None
            if lost:
                measurement = Measurement(error=lost)
            use = (
                ResourceUse()
                if measurement.error
                else self.sampler.use(measurement.start, measurement.end, memory_start=first_request)
            )
            columns = {"instance_count": instances, "request_rate": rate}
            self._record(measured_point(model, b, c, measurement, use, **columns))
            pending.pop(0)
            if lost:
                return lost
            where = f"batch {b}, {load_text(c, rate)}"
            if measurement.timed_out:
                return f"{model} hung at {where} ({measurement.error})"
            if STUB_DIED in measurement.error:
                return f"{model}'s stub process died at {where} ({measurement.error})"
        return None

    def _reload(self, model: str) -> str | None:
        """Unload ``model`` and load it again (a fresh stub process); the trouble if that failed.

        An unload that does not finish within ``RELOAD_UNLOAD_S`` (seen rarely on the CPU host, right
        after a point) restarts a server of ours instead, which is a fresh load as well.
        """
        try:
            self.server.control.unload(model, RELOAD_UNLOAD_S)
        except GpupackError as exc:
            lost = self.server.failure(after_error=True)
            if not self.server.owned:
                return lost or f"{model}: reloading it failed ({exc.message})"
            self._recover(lost or exc.message)
        try:
            self.server.control.load(model)
        except GpupackError as exc:
            return self.server.failure(after_error=True) or f"{model}: reloading it failed ({exc.message})"
        return None

    def _leave(self, model: str, interrupted: bool) -> None:
        """Unload ``model`` on the way out of an error, unless the server is ours and about to stop."""
        if interrupted and self.server.owned:
            return
        timeout = INTERRUPTED_UNLOAD_S if interrupted else None
        try:
            if timeout is None:
                self.server.control.unload(model)
            else:
                self.server.control.unload(model, timeout)
        except GpupackError:
            pass  # the error on its way out says more than this one

    def _recover(self, reason: str) -> None:
        self.reporter.notice(f"{reason}; " + ("restarting tritonserver" if self.server.owned else "stopping"))
        self.server.recover(reason)

    def _fail(self, model: str, points: Sequence[GridPoint], reason: str) -> None:
        for b, c, rate in points:
            self._record(ProfilePoint(model, b, c, stable=False, error=reason, request_rate=rate))

    def _record(self, point: ProfilePoint) -> None:
        """Add a finished point, rewrite the profile atomically, report progress."""
        # A resumed point replaces the failed row it retries, whatever instance count that row had.
        kept = [p for p in self._profile.points if _sweep_key(p) != _sweep_key(point)]
        rank = {m: i for i, m in enumerate(self._order)}
        ordered = sorted(
            [*kept, point],
            key=lambda p: (rank.get(p.model, -1), p.batch_size, p.request_rate or 0.0, p.concurrency),
        )
        self._profile = dataclasses.replace(self._profile, points=tuple(ordered))
        self._done += 1
        self._failed += 0 if point.ok else 1
        self._unsaved += 1
        write_profile(self._profile, self.output)
        self._unsaved = 0
        elapsed = time.monotonic() - self._started
        self.reporter.progress(
            Progress(self._done, self._total, point, elapsed, eta_seconds(elapsed, self._done, self._total))
        )
