"""The config search as a function: ``run_config_search(request, reporter) -> SearchResult``.

For each model of the request: read its ``config.pbtxt``, write its variants (``variants``) into the
scratch repository ``<output>/variants`` (never the user's repository; the variants stay there, so
that the one a plan chooses can be deployed as measured), then start one tritonserver of ours on
that repository and run the search (``config_search``: ``brute`` or ``quick``) over each model's
variants with ``VariantMeasurer`` (``search_driver``). The result is a normal gpupack profile in
``--output`` (``profile.csv`` with each point's variant columns, ``server-only.csv``,
``metadata.json``), rewritten after every point; ``resume`` measures only what is missing.

Local mode only: the search loads variants gpupack wrote, which a remote server can't see.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Literal

from profiler.base import signals
from profiler.base.errors import InputError, OutputError
from profiler.measure import config_search
from profiler.measure.config_search import SearchLimits, best_point
from profiler.measure.request import ProfileRequest, build_metadata, check_resumable, existing_profile
from profiler.measure.run import ProfileSession, hold_output
from profiler.measure.sampler import Sampler
from profiler.measure.search_driver import PointKey, Recorder, VariantMeasurer, recorded_key
from profiler.measure.sweep import Reporter
from profiler.measure.variants import (
    Variant,
    VariantSpace,
    batching_searchable,
    generate_variants,
    read_config,
    write_variants,
)
from profiler.profiles.schema import VARIANTS_DIR, Profile, ProfilePoint, ServerBaseline

SearchMode = Literal["brute", "quick"]
# The scratch repository of variants (VARIANTS_DIR), inside --output: Model Analyzer's
# output_model_repository. A plan deploys a chosen variant from there (packer/deploy/variants.py).
__all__ = ["VARIANTS_DIR", "SearchRequest", "SearchResult", "run_config_search"]


@dataclass(frozen=True)
class SearchRequest:
    """A config search: ``profile`` says what to measure and where (local mode), the rest how to search.

    ``latency_bounds_ms``: (model, p99 bound in ms) pairs, as ``--targets`` gives them; a model not
    listed has no bound. ``memory_limit_mb``: None means the GPU's total memory (no limit on a CPU).
    """

    profile: ProfileRequest
    mode: SearchMode = "quick"
    space: VariantSpace = field(default_factory=VariantSpace)
    latency_bounds_ms: tuple[tuple[str, float], ...] = ()
    memory_limit_mb: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("brute", "quick"):
            raise InputError(f"--search must be brute or quick, got {self.mode!r}")
        if self.profile.mode != "local":
            raise InputError(
                "--search needs local mode (--model-repository): it loads config variants that gpupack "
                "writes, which a remote server can't see"
            )
        for model, bound in self.latency_bounds_ms:
            if model not in self.profile.models:
                raise InputError(f"a p99 bound for {model!r}, which is not among the models searched")
            if (
                isinstance(bound, bool)
                or not (isinstance(bound, (int, float)) and math.isfinite(bound))
                or bound <= 0
            ):
                raise InputError(f"{model}: the p99 bound must be a positive number of ms, got {bound!r}")
        limit = self.memory_limit_mb
        if limit is not None and not (math.isfinite(limit) and limit > 0):
            raise InputError(f"the memory limit must be a positive number of MB, got {limit}")

    def limits(self, model: str, device_memory_mb: float | None) -> SearchLimits:
        """The model's p99 bound and the memory limit (the request's, else the device's)."""
        bound = dict(self.latency_bounds_ms).get(model)
        return SearchLimits(latency_p99_ms=bound, memory_mb=self.memory_limit_mb or device_memory_mb)


@dataclass(frozen=True)
class SearchResult:
    """What a search did. ``best``: per model, its best point within its limits (None: none)."""

    request: SearchRequest
    profile: Profile | None
    variants: tuple[tuple[str, tuple[Variant, ...]], ...]
    best: tuple[tuple[str, ProfilePoint | None], ...]
    pruned: tuple[str, ...]
    measured: int
    failed: int
    reused: int
    interrupted: bool
    elapsed_s: float
    notices: tuple[str, ...] = ()
    stop_signal: int | None = None
    write_error: OutputError | None = None
    unsaved: int = 0

    def best_lines(self) -> tuple[str, ...]:
        """Per model, one line: its best variant and point within its limits, or that none is."""
        bounds = dict(self.request.latency_bounds_ms)
        variants = {v.name: v for _, vs in self.variants for v in vs}
        lines = []
        for model, point in self.best:
            under = f" under p99 {bounds[model]:g} ms" if model in bounds else ""
            if point is None:
                lines.append(f"{model}: no measured point{under}")
                continue
            variant = variants.get(point.variant)
            what = variant.describe() if variant else "as recorded"
            p99 = f", p99 {point.latency_p99_ms:.1f} ms" if point.latency_p99_ms is not None else ""
            lines.append(
                f"{model}: best{under} is {point.variant} ({what}) at batch {point.batch_size}, "
                f"concurrency {point.concurrency}: {point.throughput:.1f} infer/s{p99}"
            )
        return tuple(lines)

    def summary(self) -> str:
        """One line under the table."""
        count = sum(len(v) for _, v in self.variants)
        text = (
            f"{self.request.mode} search over {count} variants of {len(self.variants)} model(s): "
            f"{self.measured} points measured, {self.failed} failed, {self.reused} already in the output, "
            f"in {self.elapsed_s:.0f} s; profile in {self.request.profile.output}"
        )
        if self.interrupted:
            text += " (interrupted: rerun with resume to finish)"
        if self.write_error is not None:
            text += f" (not written: the last {self.unsaved} point(s), which resume will measure again)"
        return text


def _plan_variants(request: SearchRequest, session: ProfileSession) -> dict[str, tuple[Variant, ...]]:
    """Read each model's config; then, all of them fine, write their variants into the scratch repository."""
    base = request.profile
    assert base.model_repository is not None  # local mode, checked by the request
    configs, out = {}, {}
    for model in base.models:
        model_dir = base.model_repository / model
        if not model_dir.is_dir():
            raise InputError(f"--models: no model {model!r} in {base.model_repository}")
        config = read_config(model_dir)
        if not batching_searchable(config) and (
            request.space.queue_delays_us or request.space.max_batch_sizes
        ):
            session.notice(
                f"{model} keeps its own batching (max_batch_size 0, a sequence batcher or an ensemble): "
                "searching its instance count only"
            )
        variants = generate_variants(model, config, request.space)
        if not any(config_search.takes(v, b) for v in variants for b in base.batch_sizes):
            largest = max(v.max_batch_size or 0 for v in variants)
            raise InputError(
                f"{model}: no variant takes batch size {min(base.batch_sizes)}: "
                + (f"its max_batch_size is at most {largest}" if largest else "it does not batch"),
                "give smaller --batch sizes (1 for a model that does not batch) or larger --max-batch-sizes",
            )
        configs[model], out[model] = config, variants
    for model, variants in out.items():
        write_variants(base.model_repository / model, base.output / VARIANTS_DIR, configs[model], variants)
    return out


def _resume_index(
    existing: Profile | None, variants: dict[str, tuple[Variant, ...]]
) -> dict[PointKey, ProfilePoint]:
    """The measured points of a resumed search, by what they measured.

    Raises:
        InputError: the profile is not a search's, or names a variant this search defines otherwise.

    """
    if existing is None:
        return {}
    defined = {v.name: v.settings for vs in variants.values() for v in vs}
    for point in existing.points:
        if point.model in variants and not point.variant:
            raise InputError(
                f"--resume: {existing.source} holds {point.model} points that are not a config search's",
                "choose another --output for the search",
            )
        if point.variant in defined and recorded_key(point)[1] != defined[point.variant]:
            raise InputError(
                f"--resume: variant {point.variant} of {existing.source} was another config "
                "(the search space changed)",
                "resume with the same search options, or choose another --output",
            )
    return {recorded_key(p): p for p in existing.points if p.ok}


def _upper_bound(request: SearchRequest, variants: dict[str, tuple[Variant, ...]]) -> int:
    """The points brute would measure: quick's most."""
    base = request.profile
    return sum(
        len(base.concurrencies) * sum(config_search.takes(v, b) for b in base.batch_sizes)
        for vs in variants.values()
        for v in vs
    )


def _search(
    request: SearchRequest,
    variants: dict[str, tuple[Variant, ...]],
    measurer: VariantMeasurer,
    device_memory_mb: float | None,
) -> tuple[list[tuple[str, ProfilePoint | None]], list[str]]:
    base = request.profile
    best, pruned = [], []
    for model, model_variants in variants.items():
        limits = request.limits(model, device_memory_mb)

        def measure(v: Variant, b: int, c: int, model: str = model) -> ProfilePoint:
            return measurer.measure(model, v, b, c)

        if request.mode == "brute":
            outcome = config_search.brute(model_variants, base.batch_sizes, base.concurrencies, measure)
        else:
            outcome = config_search.quick(
                model_variants, base.batch_sizes, base.concurrencies, measure, limits
            )
        best.append((model, best_point(outcome.points, limits)))
        pruned += outcome.pruned
    return best, pruned


@dataclass(frozen=True)
class _Run:
    """A search under way: the server's session opened, its recorder and measurer."""

    recorder: Recorder
    measurer: VariantMeasurer
    sampler: Sampler
    device_memory_mb: float | None


def _open_run(
    request: SearchRequest,
    session: ProfileSession,
    existing: Profile | None,
    variants: dict[str, tuple[Variant, ...]],
) -> _Run:
    """Start the server on the scratch repository; the profile's metadata, recorder and measurer."""
    base = request.profile
    names = tuple(v.name for vs in variants.values() for v in vs)
    # The server serves the variants, under their own names, from the scratch repository.
    session.request = dataclasses.replace(base, model_repository=base.output / VARIANTS_DIR, models=names)
    target = session.local()
    engine = session.engine(target)
    metadata = build_metadata(session.request, target.gpu, {}, target.triton_version, engine.description)
    search = f"config search ({request.mode}) over {len(names)} variants in {VARIANTS_DIR}/"
    metadata = dataclasses.replace(metadata, notes=f"{metadata.notes}; {search}")
    check_resumable(existing, metadata)
    sampler = session.stack.enter_context(Sampler(target.gpu_source(), target.tree, base.sample_interval_s))
    done = _resume_index(existing, variants)
    profile = Profile(points=existing.points if existing else (), metadata=metadata)
    recorder = Recorder(
        profile,
        base.output,
        session.reporter,
        _upper_bound(request, variants) - len(done),
        request.mode == "brute",
    )
    measurer = VariantMeasurer(
        target.handle,
        engine,
        sampler,
        recorder,
        base.settings,
        dict(base.shapes),
        base.reload_per_batch,
        done,
    )
    return _Run(recorder, measurer, sampler, metadata.gpu_memory_mb)


def _baseline(existing: Profile | None, run: _Run) -> ServerBaseline:
    """The server alone: a resumed profile's, else measured now (when anything can be sampled)."""
    if existing is not None and _measured(existing.server):
        return existing.server
    if not run.sampler.has_sources:
        return ServerBaseline()
    return ServerBaseline(**dataclasses.asdict(run.measurer.resources_now()))


def run_config_search(request: SearchRequest, reporter: Reporter) -> SearchResult:
    """Search each model's config variants and write the profile to ``request.profile.output``.

    Raises:
        InputError: bad request (unknown model, no config.pbtxt, output in use, a resume that does
            not match, ...).
        GpupackError: the server could not start or answer.

    """
    started = time.monotonic()
    session = ProfileSession(request.profile, reporter)
    best, pruned, stop_signal, write_error = [], [], None, None
    with signals.handle_signals(), session.stack:
        hold_output(request.profile, session.stack)
        existing = existing_profile(request.profile)
        variants = _plan_variants(request, session)
        run = _open_run(request, session, existing, variants)
        try:
            run.recorder.profile = dataclasses.replace(run.recorder.profile, server=_baseline(existing, run))
            best, pruned = _search(request, variants, run.measurer, run.device_memory_mb)
            run.measurer.finish()
        except KeyboardInterrupt as exc:
            stop_signal = signals.exit_code(exc) - 128
        except OutputError as exc:
            write_error = exc
        if run.sampler.failures:
            session.notice(
                f"{run.sampler.failures} resource samples failed; the first: {run.sampler.first_failure}"
            )
    recorder = run.recorder
    return SearchResult(
        request=request,
        profile=recorder.profile if recorder.profile.points else existing,
        variants=tuple(variants.items()),
        best=tuple(best),
        pruned=tuple(pruned),
        measured=recorder.done - recorder.failed,
        failed=recorder.failed,
        reused=run.measurer.reused,
        interrupted=stop_signal is not None,
        elapsed_s=time.monotonic() - started,
        notices=tuple(session.notices),
        stop_signal=stop_signal,
        write_error=write_error,
        unsaved=recorder.unsaved,
    )


def _measured(server: ServerBaseline) -> bool:
    return any(v is not None for v in dataclasses.astuple(server))
