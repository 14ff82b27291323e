"""The config search's decisions (brute, quick) on recorded samples and on the example model's theory.

The recorded samples are a brute search of profiler/examples/batched_sleeper (service_time_ms 100)
on the 2-core CPU host (tests/data/config-search/, the README there says how). The theory measure
is the example's own header: a fake measure used here only, for the arithmetic of the search's rules.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from profiler.measure.config_search import (
    SearchLimits,
    best_point,
    brute,
    concurrency_line,
    dominated,
    quick,
)
from profiler.measure.variants import Variant, VariantSpace, generate_variants, read_config
from profiler.profiles.profile_io import read_profile
from profiler.profiles.schema import ProfilePoint

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "profiler" / "examples" / "batched_sleeper"
RECORDED = ROOT / "tests" / "data" / "config-search" / "batched_sleeper-brute"
# The recorded search: what tests/data/config-search/README.md ran.
RECORDED_SPACE = VariantSpace(max_instances=3, queue_delays_us=(0, 10000))
RECORDED_BATCHES = (1, 2)
RECORDED_CONCURRENCIES = (1, 2, 4, 8)
SERVICE_MS = 40.0  # the theory measure's; the example's own
INSTANCE_MB = 100.0
SERVER_MB = 50.0


class Recorded:
    """``measure`` from the recorded brute profile, counting the calls."""

    def __init__(self) -> None:
        self.points = {(p.variant, p.batch_size, p.concurrency): p for p in read_profile(RECORDED).points}
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, variant: Variant, batch_size: int, concurrency: int) -> ProfilePoint:
        self.calls.append((variant.name, batch_size, concurrency))
        return self.points[(variant.name, batch_size, concurrency)]


class Theory:
    """``measure`` from the example model's theory (see its config.pbtxt), counting the calls."""

    def __init__(self, fail: set[tuple[str, int, int]] | None = None) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.fail = fail or set()

    def __call__(self, v: Variant, b: int, c: int) -> ProfilePoint:
        self.calls.append((v.name, b, c))
        columns = v.columns()
        if (v.name, b, c) in self.fail:
            return ProfilePoint("m", b, c, error="inference failed: out of memory", stable=False, **columns)
        per_call = (v.max_batch_size or 1) // b if v.dynamic_batching else 1
        rounds = math.ceil(c / (v.instance_count * per_call))
        return ProfilePoint(
            "m",
            b,
            c,
            throughput=min(c, v.instance_count * per_call) * b * 1000 / SERVICE_MS,
            latency_p99_ms=rounds * SERVICE_MS + (v.max_queue_delay_us or 0) / 1000,
            host_memory_mb=SERVER_MB + v.instance_count * INSTANCE_MB,
            **columns,
        )


def _variants(space: VariantSpace, model: str = "batched_sleeper") -> tuple[Variant, ...]:
    return generate_variants(model, read_config(EXAMPLE), space)


def _by_name(variants: tuple[Variant, ...]) -> dict[str, Variant]:
    return {v.name: v for v in variants}


@pytest.mark.parametrize("bound_ms", [None, 120.0, 150.0, 250.0, 500.0])
def test_quick_measures_about_half_the_recorded_points_and_finds_brutes_best(bound_ms: float | None):
    variants = _variants(RECORDED_SPACE)
    limits = SearchLimits(latency_p99_ms=bound_ms)
    everything, sampled = Recorded(), Recorded()
    full = brute(variants, RECORDED_BATCHES, RECORDED_CONCURRENCIES, everything)
    fast = quick(variants, RECORDED_BATCHES, RECORDED_CONCURRENCIES, sampled, limits)

    assert len(everything.calls) == len(variants) * 2 * 4 == len(full.points) == 72
    assert len(sampled.calls) == len(fast.points) <= 0.6 * len(everything.calls)
    assert len(set(sampled.calls)) == len(sampled.calls)  # no point measured twice
    best_brute, best_quick = best_point(full.points, limits), best_point(fast.points, limits)
    assert best_brute is not None
    assert best_quick == best_brute


@pytest.mark.parametrize(
    ("bound_ms", "instances", "batch_size", "throughput"),
    [(150.0, 2, 1, 80.0), (None, 3, 2, 120.0)],
)
def test_recorded_best_is_the_variant_theory_says(
    bound_ms: float | None, instances: int, batch_size: int, throughput: float
):
    # The example's header with S = 100 ms, max_batch_size 4, at concurrency 8. Batch 1: a call
    # carries 4 requests, so 2 instances serve all 8 in one round, 80 infer/s (p99 ~100 ms); 1
    # instance needs two rounds (200 ms) and a third adds only memory. Batch 2: a call carries 2
    # requests (4 samples), so 3 instances serve 6 of the 8 at a time: 120 infer/s, in two rounds,
    # over a 150 ms bound. The batcher fills its calls with the 10 ms queue delay; with none, requests
    # in lockstep rarely meet (the recorded 2-instance variant with no delay: 50 infer/s at batch 1).
    variants = _by_name(_variants(RECORDED_SPACE))
    limits = SearchLimits(latency_p99_ms=bound_ms)
    fast = quick(tuple(variants.values()), RECORDED_BATCHES, RECORDED_CONCURRENCIES, Recorded(), limits)
    best = best_point(fast.points, limits)
    chosen = variants[best.variant]
    assert (chosen.dynamic_batching, chosen.max_queue_delay_us, chosen.instance_count) == (
        True,
        10_000,
        instances,
    )
    assert (best.batch_size, best.concurrency) == (batch_size, 8)
    assert best.throughput == pytest.approx(throughput, rel=0.1)


def test_concurrency_stops_after_two_steps_in_a_row_that_add_less_than_five_percent():
    variants = _variants(VariantSpace(max_instances=1, queue_delays_us=()))
    theory = Theory()
    quick(variants, (1,), (1, 2, 4, 8, 16), theory, SearchLimits())
    # One instance without batching: 25 infer/s at every concurrency, so 2 and 4 add nothing.
    assert [c for _, _, c in theory.calls] == [1, 2, 4]
    impatient = Theory()
    quick(variants, (1,), (1, 2, 4, 8, 16), impatient, SearchLimits(patience=1))
    assert [c for _, _, c in impatient.calls] == [1, 2]


def test_concurrency_stops_at_the_first_step_past_the_p99_bound_without_a_queue_delay():
    variants = [
        v for v in _variants(VariantSpace(max_instances=1, queue_delays_us=(0,))) if v.dynamic_batching
    ]
    theory = Theory()
    quick(variants, (1,), (1, 2, 4, 8, 16, 32), theory, SearchLimits(latency_p99_ms=50.0))
    # Batching 4 per call: one round up to concurrency 4 (40 ms), two rounds at 8 (80 ms): with no
    # queue delay to wait out, more requests only queue longer.
    assert [c for _, _, c in theory.calls] == [1, 2, 4, 8]


def test_concurrency_past_the_p99_bound_by_no_more_than_the_noise_or_with_a_queue_delay_goes_on():
    delayed = [
        v for v in _variants(VariantSpace(max_instances=1, queue_delays_us=(10_000,))) if v.dynamic_batching
    ]
    theory = Theory()
    quick(delayed, (1,), (1, 2, 4, 8, 16, 32), theory, SearchLimits(latency_p99_ms=50.0))
    # With the 10 ms delay, 50 ms up to concurrency 4, 90 ms at 8, 130 ms at 16: two unpaid steps.
    assert [c for _, _, c in theory.calls] == [1, 2, 4, 8, 16]
    undelayed = [
        v for v in _variants(VariantSpace(max_instances=1, queue_delays_us=(0,))) if v.dynamic_batching
    ]
    noisy = Theory()
    quick(undelayed, (1,), (1, 2, 4, 8, 16, 32), noisy, SearchLimits(latency_p99_ms=78.0))
    # 80 ms at concurrency 8 is within 5 % of 78: not clearly past, so patience applies (120 ms at 16).
    assert [c for _, _, c in noisy.calls] == [1, 2, 4, 8, 16]


def test_a_point_implied_by_the_previous_instance_count_is_not_measured_again():
    variants = [
        v for v in _variants(VariantSpace(max_instances=3, queue_delays_us=())) if not v.dynamic_batching
    ]
    theory = Theory()
    fast = quick(variants, (1,), (1, 2, 4, 8), theory, SearchLimits(latency_p99_ms=50.0))
    # 1 instance: 25 infer/s at concurrency 1 (40 ms), 80 ms at 2, past the bound. 2 instances at
    # concurrency 1 would repeat that point (its request had an instance of its own): they start at 2
    # (50 infer/s, 40 ms), which must beat it; then 3 instances start at 3, the next concurrency 4.
    assert theory.calls == [
        (variants[0].name, 1, 1),
        (variants[0].name, 1, 2),
        (variants[1].name, 1, 2),
        (variants[1].name, 1, 4),
        (variants[2].name, 1, 4),
    ]
    assert best_point(fast.points, SearchLimits(latency_p99_ms=50.0)).instance_count == 2


def test_concurrency_goes_on_past_a_step_that_adds_nothing_when_the_next_one_does():
    # Seen on this host: with a 0 queue delay two requests in lockstep never share a call, so
    # concurrency 2 adds nothing to 1 and 4 doubles it (1 batching instance, batch 1).
    variant = Variant(1, True, 0, 4, "v")
    throughput = {1: 22.6, 2: 23.2, 4: 48.9, 8: 93.2}

    def measure(v: Variant, b: int, c: int) -> ProfilePoint:
        return ProfilePoint("m", b, c, throughput=throughput[c], latency_p99_ms=45.0, **v.columns())

    line = concurrency_line(variant, 1, (1, 2, 4, 8), measure, SearchLimits())
    assert [p.concurrency for p in line] == [1, 2, 4, 8]


def test_instances_stop_after_two_counts_in_a_row_that_do_not_pay():
    variants = [
        v for v in _variants(VariantSpace(max_instances=5, queue_delays_us=(0,))) if v.dynamic_batching
    ]
    theory = Theory()
    quick(variants, (1,), (1, 2, 4, 8), theory, SearchLimits())
    # Concurrency 8 is at most two calls of 4: the third and fourth instances add nothing, the fifth
    # is not tried.
    assert sorted({name for name, _, _ in theory.calls}) == [v.name for v in variants[:4]]


def test_an_instance_count_that_does_not_pay_does_not_stop_the_next_that_does():
    # The large-space benchmark's batched_sleeper (S = 100 ms, 4 requests a call, 10 ms delay, p99
    # bound 150 ms): 3 instances add nothing at concurrency 8 (the load) and take two rounds at 16;
    # 4 serve all 16 in one round, twice 2 instances' best.
    variants = [
        v for v in _variants(VariantSpace(max_instances=4, queue_delays_us=(10_000,))) if v.dynamic_batching
    ]
    throughput = {1: 40.0, 2: 80.0, 3: 120.0, 4: 160.0}

    def measure(v: Variant, b: int, c: int) -> ProfilePoint:
        calls = v.instance_count * 4
        p99 = math.ceil(c / calls) * 100.0 + 10.0
        tput = min(c, calls) * 10.0 if c <= calls else throughput[v.instance_count] * c / (c + calls)
        return ProfilePoint("m", b, c, throughput=tput, latency_p99_ms=p99, **v.columns())

    fast = quick(variants, (1,), (1, 2, 4, 8, 16), measure, SearchLimits(latency_p99_ms=150.0))
    best = best_point(fast.points, SearchLimits(latency_p99_ms=150.0))
    assert (best.instance_count, best.concurrency, best.throughput) == (4, 16, 160.0)


def test_instances_stop_once_memory_passes_the_limit():
    variants = [
        v for v in _variants(VariantSpace(max_instances=4, queue_delays_us=())) if not v.dynamic_batching
    ]
    theory = Theory()
    # 50 MB of server + 100 MB per instance: 2 instances take 250 MB, more than 200.
    fast = quick(variants, (1,), (1, 2, 4, 8), theory, SearchLimits(memory_mb=200.0))
    assert {name for name, _, _ in theory.calls} == {variants[0].name, variants[1].name}
    # Memory stops concurrency too (concurrency 1 is implied by 1 instance's point: see below).
    assert [c for name, _, c in theory.calls if name == variants[1].name] == [2]
    assert best_point(fast.points, SearchLimits(memory_mb=200.0)).instance_count == 1


def test_a_failed_point_ends_its_variants_concurrency_line_only():
    variants = [
        v for v in _variants(VariantSpace(max_instances=2, queue_delays_us=())) if not v.dynamic_batching
    ]
    theory = Theory(fail={(variants[0].name, 1, 2)})
    quick(variants, (1,), (1, 2, 4), theory, SearchLimits())
    # Its best point so far (concurrency 1) still counts: the next instance count is tried (from
    # concurrency 2: at 1 it would repeat that point).
    assert theory.calls == [
        (variants[0].name, 1, 1),
        (variants[0].name, 1, 2),
        (variants[1].name, 1, 2),
        (variants[1].name, 1, 4),
    ]


def test_variants_dominated_at_one_batch_size_are_not_measured_at_the_next():
    variants = _by_name(_variants(VariantSpace(max_instances=3, queue_delays_us=(0,))))
    theory = Theory()
    fast = quick(tuple(variants.values()), (1, 2), (1, 2, 4, 8), theory, SearchLimits())
    # Batch 2 goes first. There batching instances (2 requests a call) beat the non-batching variants
    # (1 a call) on throughput or on memory, and no worse on the rest: that family is left out at 1.
    off = {n for n, v in variants.items() if not v.dynamic_batching}
    assert off <= set(fast.pruned)
    assert {n for n, b, _ in theory.calls if b == 2} >= off
    assert not {n for n, b, _ in theory.calls if b == 1} & off


def test_dominated_keeps_every_trade_off_and_drops_variants_with_nothing_within_the_bound():
    def point(throughput: float, memory: float, p99: float) -> ProfilePoint:
        return ProfilePoint("m", 1, 1, throughput=throughput, host_memory_mb=memory, latency_p99_ms=p99)

    best = {
        "fast-big": point(200, 300, 40),
        "slow-small": point(100, 150, 40),
        "slow-big": point(100, 300, 40),
        "fast-big-noise": point(198, 302, 41),  # the same as fast-big, measured again
        "fast-big-slower": point(200, 300, 80),
        "nothing": None,
    }
    assert dominated(best) == {"slow-big", "nothing"}


def test_best_point_prefers_less_memory_among_throughputs_within_the_noise():
    a = ProfilePoint("m", 1, 8, 2, throughput=200.0, latency_p99_ms=41.0, host_memory_mb=250.0)
    b = ProfilePoint("m", 1, 8, 3, throughput=205.0, latency_p99_ms=40.0, host_memory_mb=350.0)
    c = ProfilePoint("m", 1, 16, 3, throughput=300.0, latency_p99_ms=80.0, host_memory_mb=350.0)
    assert best_point([a, b, c], SearchLimits()) == c
    assert best_point([a, b, c], SearchLimits(latency_p99_ms=60.0)) == a
    assert best_point([a, b, c], SearchLimits(latency_p99_ms=10.0)) is None


def test_brute_skips_batch_sizes_above_a_variants_max_batch_size():
    variants = _variants(VariantSpace(max_instances=1, queue_delays_us=(), max_batch_sizes=(2, 8)))
    theory = Theory()
    brute(variants, (1, 4), (1,), theory)
    assert theory.calls == [(variants[0].name, 1, 1), (variants[1].name, 1, 1), (variants[1].name, 4, 1)]


def test_limits_refuse_a_bound_that_is_not_positive():
    with pytest.raises(ValueError, match="latency_p99_ms must be a positive number"):
        SearchLimits(latency_p99_ms=0.0)
