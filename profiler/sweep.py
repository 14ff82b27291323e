"""The sweep: every model at every (batch size, concurrency) point, one model loaded at a time.

First the server alone (no model loaded) for the baseline; then, per model: load, measure each point
not yet in the output, unload (and wait until the server has let it go, so that each model's memory
is its own). After every point the whole profile is rewritten atomically, so Ctrl-C or a crash keeps
everything finished, and ``--resume`` skips what is there. A model that fails to load gets an error
row per point and the sweep goes on; so does a point whose requests fail (e.g. out of memory).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from profiler.inputs import InputSpec, input_specs, instance_count
from profiler.loadgen import LoadEngine, Measurement, MeasureSettings
from profiler.profile_io import write_profile
from profiler.sampler import ResourceUse, Sampler
from profiler.schema import Profile, ProfileMetadata, ProfilePoint, ServerBaseline
from profiler.stats import eta_seconds
from profiler.triton import ModelLoadError, TritonControl

# The server alone: long enough for ~20 samples and two CPU-rate spans (sampler.CPU_RATE_SPAN_S).
BASELINE_S = 2.0


@dataclass(frozen=True)
class SweepSpec:
    """What to measure: models × batch sizes × concurrencies, with shapes for dynamic dims."""

    models: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    concurrencies: tuple[int, ...]
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    settings: MeasureSettings = field(default_factory=MeasureSettings)

    def __post_init__(self) -> None:
        if not self.models or not self.batch_sizes or not self.concurrencies:
            raise ValueError("a sweep needs at least one model, batch size and concurrency")
        if len(set(self.models)) != len(self.models):
            raise ValueError("a model is listed twice")

    @property
    def grid(self) -> list[tuple[int, int]]:
        """The (batch size, concurrency) points of every model, in sweep order."""
        return [(b, c) for b in self.batch_sizes for c in self.concurrencies]


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


def done_keys(existing: Profile | None) -> set[tuple[str, int, int]]:
    """(model, batch size, concurrency) of the points a resumed sweep skips: those measured without error."""
    if existing is None:
        return set()
    return {(p.model, p.batch_size, p.concurrency) for p in existing.points if p.ok}


def _point(model: str, b: int, c: int, instances: int, m: Measurement, use: ResourceUse) -> ProfilePoint:
    if m.error:
        return ProfilePoint(model, b, c, instances, stable=False, error=m.error)
    return ProfilePoint(
        model,
        b,
        c,
        instances,
        throughput=m.throughput,
        latency_p50_ms=m.latency_p50_ms,
        latency_p90_ms=m.latency_p90_ms,
        latency_p95_ms=m.latency_p95_ms,
        latency_p99_ms=m.latency_p99_ms,
        stable=m.stable,
        **dataclasses.asdict(use),
    )


class Sweep:
    """Runs one sweep against a ready server; see the module docstring for the order of things."""

    def __init__(
        self,
        control: TritonControl,
        engine: LoadEngine,
        sampler: Sampler,
        output: Path,
        reporter: Reporter,
    ) -> None:
        self.control = control
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

    def run(
        self, spec: SweepSpec, metadata: ProfileMetadata, existing: Profile | None = None
    ) -> SweepOutcome:
        """Measure every point of ``spec`` not already (without error) in ``existing``."""
        self._started = time.monotonic()
        self._order = spec.models
        skip = done_keys(existing)
        todo = {m: [(b, c) for b, c in spec.grid if (m, b, c) not in skip] for m in spec.models}
        self._total = sum(len(points) for points in todo.values())
        skipped = len(spec.grid) * len(spec.models) - self._total
        interrupted = False
        try:
            server = self._baseline(existing)
            self._profile = Profile(
                points=existing.points if existing else (), server=server, metadata=metadata
            )
            for model in spec.models:
                if todo[model]:
                    self._model(model, todo[model], spec)
        except KeyboardInterrupt:
            interrupted = True
        return SweepOutcome(
            profile=self._profile if self._profile.points else existing,
            measured=self._done - self._failed,
            failed=self._failed,
            skipped=skipped,
            interrupted=interrupted,
            elapsed_s=time.monotonic() - self._started,
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

    def _model(self, model: str, points: Sequence[tuple[int, int]], spec: SweepSpec) -> None:
        try:
            self.control.load(model)
        except ModelLoadError as exc:
            for b, c in points:
                self._record(ProfilePoint(model, b, c, stable=False, error=exc.message))
            return
        try:
            config = self.control.model_config(model)
            instances = instance_count(config)
            shapes = dict(spec.shapes)
            specs: dict[int, tuple[InputSpec, ...]] = {
                b: input_specs(model, config, b, shapes) for b in dict.fromkeys(b for b, _ in points)
            }
            for b, c in points:
                first_request = self.sampler.now()  # memory from here: first-request allocations count
                measurement = self.engine.measure(model, specs[b], c, spec.settings)
                use = (
                    ResourceUse()
                    if measurement.error
                    else self.sampler.use(measurement.start, measurement.end, memory_start=first_request)
                )
                self._record(_point(model, b, c, instances, measurement, use))
        finally:
            self.control.unload(model)

    def _record(self, point: ProfilePoint) -> None:
        """Add a finished point, rewrite the profile atomically, report progress."""
        # A resumed point replaces the failed row it retries, whatever instance count that row had.
        kept = [p for p in self._profile.points if p.key[:3] != point.key[:3]]
        rank = {m: i for i, m in enumerate(self._order)}
        ordered = sorted([*kept, point], key=lambda p: (rank.get(p.model, -1), p.batch_size, p.concurrency))
        self._profile = dataclasses.replace(self._profile, points=tuple(ordered))
        write_profile(self._profile, self.output)
        self._done += 1
        self._failed += 0 if point.ok else 1
        elapsed = time.monotonic() - self._started
        self.reporter.progress(
            Progress(self._done, self._total, point, elapsed, eta_seconds(elapsed, self._done, self._total))
        )
