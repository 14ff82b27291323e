"""The config search's ``measure`` on a real server: load a variant, measure a point, record it.

``VariantMeasurer`` is the callable ``config_search`` drives. It keeps one variant loaded at a time
(switching asks the server to unload the last one, loads the next meanwhile, and waits until the
server let the last one go before measuring, so that each variant's memory is its own; past
``SWITCH_UNLOAD_S`` the server is restarted instead; with ``reload_per_batch`` a new batch size gets
a fresh load too), measures with the sweep's load engine and sampler, and records every point at
once: the profile is rewritten atomically after each, with the progress reported, so Ctrl-C or a
crash keeps what is done.

A point already measured (a resumed search) is returned from the profile without measuring: the
search then takes the same decisions again and measures only what is missing.

Failures follow the sweep's rules: a variant that fails to load gets an error point, and so does a
point whose requests fail; a variant that hangs, whose stub dies or that takes the server down gets
its point recorded with the reason, the server restarted, and its later points recorded as not
measured, with that reason, without loading it again.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from profiler.base.errors import GpupackError
from profiler.measure.inputs import InputSpec, input_specs
from profiler.measure.loadgen import LoadEngine, Measurement, MeasureSettings
from profiler.measure.sampler import ResourceUse, Sampler
from profiler.measure.stats import eta_seconds
from profiler.measure.sweep import BASELINE_S, STUB_DIED, Progress, Reporter, ServerHandle, measured_point
from profiler.measure.variants import Variant
from profiler.profiles.profile_io import write_profile
from profiler.profiles.schema import Profile, ProfilePoint
from profiler.server.triton import ModelLoadError

PointKey = tuple[str, tuple[int, bool, int | None, int | None], int, int]

# Switching variants: how long the last one may take to unload before our server is restarted instead.
# A stub-process model unloads in about a second per instance on the 2-core CPU host (measured); the
# one unload seen to hang (the model stayed READY with no inference in flight) never ended, and
# tritonserver, holding no model, restarts in a few seconds. A slow unload cut short costs only that
# restart, so the timeout is short (the sweep's is the same rule: RELOAD_UNLOAD_S, 30 s, and
# TritonControl's default, 120 s, was the one hit).
SWITCH_UNLOAD_S = 10.0


def point_key(model: str, variant: Variant, batch_size: int, concurrency: int) -> PointKey:
    """A point's identity in a search: the model, what its variant changes, the load."""
    return (model, variant.settings, batch_size, concurrency)


def recorded_key(point: ProfilePoint) -> PointKey:
    """The same for a point read back from a profile."""
    settings = (
        point.instance_count,
        bool(point.dynamic_batching),
        point.max_queue_delay_us,
        point.max_batch_size,
    )
    return (point.model, settings, point.batch_size, point.concurrency)


class Recorder:
    """The profile being written: each point added, the whole file rewritten, the progress told."""

    def __init__(
        self, profile: Profile, output: Path, reporter: Reporter, total: int, estimate: bool
    ) -> None:
        self.profile = profile
        self.output = output
        self.reporter = reporter
        self.total = total
        self.estimate = estimate  # False when ``total`` is an upper bound only (quick): no ETA
        self.started = time.monotonic()
        self.done = 0
        self.failed = 0
        self.unsaved = 0

    def record(self, point: ProfilePoint) -> None:
        """Add ``point`` (replacing the failed row it retries) and rewrite the profile."""
        key = (point.model, point.variant, point.batch_size, point.concurrency)
        kept = [p for p in self.profile.points if (p.model, p.variant, p.batch_size, p.concurrency) != key]
        self.profile = dataclasses.replace(self.profile, points=(*kept, point))
        self.done += 1
        self.failed += 0 if point.ok else 1
        self.unsaved += 1
        write_profile(self.profile, self.output)
        self.unsaved = 0
        elapsed = time.monotonic() - self.started
        total = max(self.total, self.done)
        eta = eta_seconds(elapsed, self.done, total) if self.estimate else None
        self.reporter.progress(Progress(self.done, total, point, elapsed, eta))


class VariantMeasurer:
    """``measure(model, variant, batch, concurrency)`` against a server of ours (see the module docstring)."""

    def __init__(
        self,
        server: ServerHandle,
        engine: LoadEngine,
        sampler: Sampler,
        recorder: Recorder,
        settings: MeasureSettings,
        shapes: dict[str, tuple[int, ...]],
        reload_per_batch: bool,
        done: dict[PointKey, ProfilePoint],
    ) -> None:
        self.server = server
        self.engine = engine
        self.sampler = sampler
        self.recorder = recorder
        self.settings = settings
        self.shapes = shapes
        self.reload_per_batch = reload_per_batch
        self.done = done
        self.reused = 0
        self._loaded: tuple[str, int] | None = None  # (variant name, batch size) loaded now
        self._specs: dict[tuple[str, int], tuple[InputSpec, ...]] = {}
        self._broken: dict[str, str] = {}  # variant name -> why it is not measured any more

    def measure(self, model: str, variant: Variant, batch_size: int, concurrency: int) -> ProfilePoint:
        """The point, from the resumed profile or measured and recorded now."""
        cached = self.done.get(point_key(model, variant, batch_size, concurrency))
        if cached is not None:
            self.reused += 1
            return cached
        columns = variant.columns()
        if variant.name in self._broken:
            return self._record_error(model, variant, batch_size, concurrency, self._broken[variant.name])
        trouble = self._ensure_loaded(variant, batch_size)
        if trouble:
            self._broken[variant.name] = f"not measured: {trouble}"
            return self._record_error(model, variant, batch_size, concurrency, trouble)
        first_request = self.sampler.now()  # memory from here: first-request allocations count
        m = self.engine.measure(
            variant.name, self._specs[(variant.name, batch_size)], concurrency, self.settings
        )
        lost = self.server.failure(after_error=True) if m.error else None
        if lost:
            m = Measurement(error=lost)
        use = ResourceUse() if m.error else self.sampler.use(m.start, m.end, memory_start=first_request)
        point = measured_point(model, batch_size, concurrency, m, use, **columns)
        self.recorder.record(point)
        trouble = lost or self._trouble(variant, batch_size, concurrency, m)
        if trouble:
            self._broken[variant.name] = f"not measured: {trouble}"
            self._recover(trouble)
        return point

    def _trouble(self, variant: Variant, batch_size: int, concurrency: int, m: Measurement) -> str | None:
        where = f"{variant.name} at batch {batch_size}, concurrency {concurrency}"
        if m.timed_out:
            return f"{where} hung ({m.error})"
        if STUB_DIED in m.error:
            return f"{where}: its stub process died ({m.error})"
        return None

    def _record_error(
        self, model: str, variant: Variant, batch_size: int, concurrency: int, reason: str
    ) -> ProfilePoint:
        point = ProfilePoint(model, batch_size, concurrency, stable=False, error=reason, **variant.columns())
        self.recorder.record(point)
        return point

    def _ensure_loaded(self, variant: Variant, batch_size: int) -> str | None:
        """Load ``variant`` (unloading the last one) unless loaded for this batch; the trouble if any."""
        loaded = self._loaded
        if (
            loaded is not None
            and loaded[0] == variant.name
            and (loaded[1] == batch_size or not self.reload_per_batch)
        ):
            self._loaded = (variant.name, batch_size)
            return self._specs_for(variant, batch_size)
        leaving = None
        if loaded is not None:
            self._loaded = None
            try:
                self.server.control.request_unload(loaded[0])
                leaving = loaded[0]
            except GpupackError as exc:
                self._recover(self.server.failure(after_error=True) or exc.message)
        lost = self.server.failure()
        if lost:  # it died after the last variant was done with it: not this one's fault
            self._recover(lost)
            leaving = None
        trouble = self._load(variant.name)
        if leaving is not None and not self._let_go(leaving) and not trouble:
            trouble = self._load(variant.name)  # the restart took it down too
        if trouble:
            return trouble
        self._loaded = (variant.name, batch_size)
        return self._specs_for(variant, batch_size)

    def _load(self, name: str) -> str | None:
        """Load a variant; why it failed, if it did (the server recovered when it went down)."""
        try:
            self.server.control.load(name)
        except ModelLoadError as exc:
            lost = self.server.failure(after_error=True)
            if lost:
                self._recover(lost)
            return lost or exc.message
        return None

    def _let_go(self, name: str) -> bool:
        """Wait until the server has let the last variant go; False when it had to be restarted for that.

        The next variant loads meanwhile (a load is not measured), so the two overlap; its points wait
        for this, so that their memory is theirs alone.
        """
        try:
            self.server.control.wait_unloaded(name, SWITCH_UNLOAD_S)
        except GpupackError as exc:
            lost = self.server.failure(after_error=True)
            self._recover(
                lost or f"{exc.message} (a variant here unloads within seconds; a restart is quicker)"
            )
            return False
        return True

    def _specs_for(self, variant: Variant, batch_size: int) -> str | None:
        if (variant.name, batch_size) in self._specs:
            return None
        try:
            config = self.server.control.model_config(variant.name)
        except GpupackError:
            lost = self.server.failure(after_error=True)
            if lost is None:
                raise
            self._recover(lost)
            return lost
        self._specs[(variant.name, batch_size)] = input_specs(variant.name, config, batch_size, self.shapes)
        return None

    def finish(self) -> None:
        """Unload the last variant: the server then stops at once (with a model loaded it waits)."""
        if self._loaded is not None:
            try:
                self.server.control.unload(self._loaded[0])
            except GpupackError:
                pass  # the server is stopped next either way
            self._loaded = None

    def _recover(self, reason: str) -> None:
        self._loaded = None
        self.recorder.reporter.notice(f"{reason}; restarting tritonserver")
        self.server.recover(reason)

    def resources_now(self) -> ResourceUse:
        """The server alone for ``BASELINE_S`` (before any variant is loaded)."""
        start = self.sampler.now()
        time.sleep(BASELINE_S)
        return self.sampler.use(start, self.sampler.now())
