"""The config search's decisions (brute, quick) on recorded samples and on the example model's theory.

The recorded samples are brute searches on the 2-core CPU host (tests/data/config-search/, the README
there says how): profiler/examples/batched_sleeper (service_time_ms 100) over 9 variants, and the
large space of the Model Analyzer side-by-side benchmark (batched_sleeper and sleepy, 12 variants
each). The theory measure is the example's own header: a fake measure used here only, for the
arithmetic of the search's rules.
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
from profiler.measure.variants import Variant, VariantSpace, generate_variants, read_config, recorded_variants
from profiler.profiles.profile_io import read_profile
from profiler.profiles.schema import ProfilePoint

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "profiler" / "examples" / "batched_sleeper"
RECORDED = ROOT / "tests" / "data" / "config-search" / "batched_sleeper-brute"
LARGE = ROOT / "tests" / "data" / "config-search" / "large-space-brute"
LARGE_CONCURRENCIES = (1, 2, 4, 8, 16)
BOUNDS_MS = [None, 120.0, 150.0, 250.0, 500.0]
# The recorded search: what tests/data/config-search/README.md ran.
RECORDED_SPACE = VariantSpace(max_instances=3, queue_delays_us=(0, 10000))
RECORDED_BATCHES = (1, 2)
RECORDED_CONCURRENCIES = (1, 2, 4, 8)
SERVICE_MS = 40.0  # the theory measure's; the example's own
INSTANCE_MB = 100.0
SERVER_MB = 50.0


class Recorded:
    """``measure`` from a recorded brute profile (one model's points), counting the calls."""

    def __init__(self, source: Path = RECORDED, model: str = "batched_sleeper") -> None:
        points = [p for p in read_profile(source).points if p.model == model]
        self.points = {(p.variant, p.batch_size, p.concurrency): p for p in points}
        # The variants, from the points' own columns (those of the large space are not the examples').
        self.variants = recorded_variants(points)
        self.calls: list[tuple[str, int, int]] = []

    def loads(self) -> int:
        """The variant loads the calls take, in their order (a live search's switches)."""
        return sum(1 for i, call in enumerate(self.calls) if i == 0 or call[0] != self.calls[i - 1][0])

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


@pytest.mark.parametrize("bound_ms", BOUNDS_MS)
def test_quick_measures_a_fifth_of_the_recorded_points_and_finds_brutes_best(bound_ms: float | None):
    variants = _variants(RECORDED_SPACE)
    limits = SearchLimits(latency_p99_ms=bound_ms)
    everything, sampled = Recorded(), Recorded()
    full = brute(variants, RECORDED_BATCHES, RECORDED_CONCURRENCIES, everything)
    fast = quick(variants, RECORDED_BATCHES, RECORDED_CONCURRENCIES, sampled, limits)

    assert len(everything.calls) == len(variants) * 2 * 4 == len(full.points) == 72
    # 15 points in 7 loads under every bound tried (brute: 72 points in 18 loads, one per
    # variant and batch size); the rules before the top-down walk took 25-36 points in 11-14 loads.
    assert len(sampled.calls) == len(fast.points) <= 15
    assert sampled.loads() <= 7
    assert len(set(sampled.calls)) == len(sampled.calls)  # no point measured twice
    best_brute, best_quick = best_point(full.points, limits), best_point(fast.points, limits)
    assert best_brute is not None
    assert best_quick == best_brute


@pytest.mark.parametrize("bound_ms", BOUNDS_MS)
def test_quick_on_the_large_space_measures_a_sixth_of_its_points_and_finds_brutes_best(
    bound_ms: float | None,
):
    # The benchmark's space (benchmarks/results/model-analyzer-side-by-side/large-space): 12 variants
    # x 5 concurrencies per model. batched_sleeper's best takes 4 instances and the 10 ms delay at
    # concurrency 16; sleepy's, whose model serves a call's requests one after another, 4 instances
    # and no batcher (the batcher only adds waiting): both families of the batcher are left out at
    # their tops. 18-22 points in 8-10 loads for both models together (the rules before: 54-68
    # points in 23-24 loads); about 0.5 s of warm-up and 3 s of windows a point and 1.5-12 s a load
    # live, which is what the benchmark's wall time is made of.
    limits = SearchLimits(latency_p99_ms=bound_ms)
    points = loads = 0
    for model in ("batched_sleeper", "sleepy"):
        sampled = Recorded(LARGE, model)
        fast = quick(sampled.variants, (1,), LARGE_CONCURRENCIES, sampled, limits)
        assert len(sampled.points) == 60
        assert len(set(sampled.calls)) == len(sampled.calls) == len(fast.points)
        assert best_point(fast.points, limits) == best_point(list(sampled.points.values()), limits)
        points, loads = points + len(sampled.calls), loads + sampled.loads()
    assert points <= 22
    assert loads <= 10


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


def test_a_family_starts_at_its_most_instances_with_as_many_requests_and_steps_down_while_fewer_keep_up():
    variants = [
        v for v in _variants(VariantSpace(max_instances=3, queue_delays_us=())) if not v.dynamic_batching
    ]
    theory = Theory()
    fast = quick(variants, (1,), (1, 2, 4, 8), theory, SearchLimits(latency_p99_ms=50.0))
    # 3 instances start at concurrency 2 (the largest up to 3: below it, an instance idles): 50 infer/s
    # in 40 ms; at 4, two rounds (80 ms), past the bound. 2 instances at concurrency 2: the same 50
    # infer/s, with less memory. 1 instance there takes two rounds, past the bound: one concurrency
    # lower, it falls behind (25 infer/s in 40 ms), and ends the walk.
    assert theory.calls == [
        (variants[2].name, 1, 2),
        (variants[2].name, 1, 4),
        (variants[1].name, 1, 2),
        (variants[0].name, 1, 2),
        (variants[0].name, 1, 1),
    ]
    assert best_point(fast.points, SearchLimits(latency_p99_ms=50.0)).instance_count == 2


def test_fewer_instances_past_the_bound_at_the_tops_concurrency_are_tried_one_concurrency_lower():
    # A model whose calls contend for 2 cores (a call takes 40 ms alone, twice that with 4 running),
    # each instance past 2 costing 5 % more: 4 instances at concurrency 4 serve 45 infer/s in 89 ms; 3
    # there take two rounds (126 ms), past a 100 ms bound, but at concurrency 2 serve 47.5 in 42 ms;
    # 2 instances at 2, 50 infer/s in 40 ms, the best (the walk from 1 instance up finds it too).
    variants = [
        v for v in _variants(VariantSpace(max_instances=4, queue_delays_us=())) if not v.dynamic_batching
    ]

    def measure(v: Variant, b: int, c: int) -> ProfilePoint:
        running = min(c, v.instance_count)
        slow = max(1.0, running / 2) / (1 - 0.05 * max(0, v.instance_count - 2))
        return ProfilePoint(
            "m",
            b,
            c,
            throughput=running * 1000 / (40.0 * slow),
            latency_p99_ms=math.ceil(c / v.instance_count) * 40.0 * slow,
            **v.columns(),
        )

    limits = SearchLimits(latency_p99_ms=100.0)
    best = best_point(quick(variants, (1,), (1, 2, 4, 8), measure, limits).points, limits)
    assert (best.instance_count, best.concurrency) == (2, 2)
    assert best.throughput == pytest.approx(50.0)


def test_a_line_with_nothing_within_the_bound_falls_below_its_start_until_a_point_is():
    variant = _variants(VariantSpace(max_instances=1, queue_delays_us=()))[0]
    # 1 instance, no batcher: c requests take c rounds of 40 ms. From concurrency 4 (160 ms), past a
    # 50 ms bound at once; then 2 (80 ms) and 1 (40 ms), the first within it.
    theory = Theory()
    line = concurrency_line(variant, 1, (1, 2, 4, 8), theory, SearchLimits(latency_p99_ms=50.0), start=4)
    assert [p.concurrency for p in line] == [4, 2, 1]
    # With a point within the bound on the way up, nothing below the start is measured.
    line = concurrency_line(variant, 1, (1, 2, 4, 8), Theory(), SearchLimits(latency_p99_ms=200.0), start=2)
    assert [p.concurrency for p in line] == [2, 4, 8]


def test_concurrency_goes_on_past_a_step_that_adds_nothing_when_the_next_one_does():
    # Seen on this host: with a 0 queue delay two requests in lockstep never share a call, so
    # concurrency 2 adds nothing to 1 and 4 doubles it (1 batching instance, batch 1).
    variant = Variant(1, True, 0, 4, "v")
    throughput = {1: 22.6, 2: 23.2, 4: 48.9, 8: 93.2}

    def measure(v: Variant, b: int, c: int) -> ProfilePoint:
        return ProfilePoint("m", b, c, throughput=throughput[c], latency_p99_ms=45.0, **v.columns())

    line = concurrency_line(variant, 1, (1, 2, 4, 8), measure, SearchLimits())
    assert [p.concurrency for p in line] == [1, 2, 4, 8]


def test_fewer_instances_are_tried_at_the_tops_concurrency_until_one_falls_behind():
    variants = [
        v for v in _variants(VariantSpace(max_instances=5, queue_delays_us=(0,))) if v.dynamic_batching
    ]
    theory = Theory()
    fast = quick(variants, (1,), (1, 2, 4, 8), theory, SearchLimits())
    # 5 instances of 4 requests a call: concurrency 4 and 8 each in one round (200 infer/s at 8). At 8,
    # 4, 3 and 2 instances serve all 8 in one round too; 1 serves half of them: it ends the walk.
    assert theory.calls == [
        (variants[4].name, 1, 4),
        (variants[4].name, 1, 8),
        (variants[3].name, 1, 8),
        (variants[2].name, 1, 8),
        (variants[1].name, 1, 8),
        (variants[0].name, 1, 8),
    ]
    assert best_point(fast.points, SearchLimits()).instance_count == 2


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


def test_a_family_over_memory_at_its_most_instances_takes_fewer_as_its_top():
    variants = [
        v for v in _variants(VariantSpace(max_instances=4, queue_delays_us=())) if not v.dynamic_batching
    ]
    theory = Theory()
    # 50 MB of server + 100 MB per instance: 2 instances and more take more than 200 MB, each known
    # from its first point; 1 instance is the top, its line as usual (25 infer/s at every concurrency).
    fast = quick(variants, (1,), (1, 2, 4, 8), theory, SearchLimits(memory_mb=200.0))
    assert theory.calls == [
        (variants[3].name, 1, 4),
        (variants[2].name, 1, 2),
        (variants[1].name, 1, 2),
        (variants[0].name, 1, 1),
        (variants[0].name, 1, 2),
        (variants[0].name, 1, 4),
    ]
    assert best_point(fast.points, SearchLimits(memory_mb=200.0)).instance_count == 1


def test_a_failed_point_ends_its_line_and_the_family_tries_fewer_instances():
    variants = [
        v for v in _variants(VariantSpace(max_instances=2, queue_delays_us=())) if not v.dynamic_batching
    ]
    theory = Theory(fail={(variants[1].name, 1, 2)})
    quick(variants, (1,), (1, 2, 4), theory, SearchLimits())
    # 2 instances fail at their first point: 1 instance becomes the top, its line from concurrency 1.
    assert theory.calls == [
        (variants[1].name, 1, 2),
        (variants[0].name, 1, 1),
        (variants[0].name, 1, 2),
        (variants[0].name, 1, 4),
    ]


def test_families_whose_top_is_dominated_are_left_out_at_this_batch_size_and_the_next():
    variants = _by_name(_variants(RECORDED_SPACE))
    sampled = Recorded()
    limits = SearchLimits(latency_p99_ms=150.0)
    fast = quick(tuple(variants.values()), RECORDED_BATCHES, RECORDED_CONCURRENCIES, sampled, limits)
    # Batch 2 goes first. There, at 3 instances, the batcher with the 10 ms delay serves 77 infer/s in
    # 111 ms; without the batcher, or with no delay, 40 at most within the bound, for the same memory:
    # those two families are not stepped down, nor measured at batch 1.
    others = {n for n, v in variants.items() if v.max_queue_delay_us != 10_000}
    assert others <= set(fast.pruned)
    assert {n for n, b, _ in sampled.calls if b == 2} & others == {
        n for n, v in variants.items() if v.instance_count == 3 and n in others
    }
    assert not {n for n, b, _ in sampled.calls if b == 1} & others


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
