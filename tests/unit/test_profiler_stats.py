"""The arithmetic of a measurement: percentiles, window stability, maxima and rates, ETA."""

from __future__ import annotations

import pytest

from profiler.measure.stats import (
    Window,
    eta_seconds,
    max_in,
    max_rate,
    percentile,
    summarize_windows,
    windows_agree,
)


def test_percentile_is_nearest_rank_like_perf_analyzer():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 99) == 7.0
    assert percentile(list(range(1, 11)), 95) == 10  # ceil(9.5) = 10th value


def test_percentile_refuses_no_values_and_out_of_range_quantiles():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="within 0-100"):
        percentile([1.0], 101)


def test_windows_agree_when_the_last_three_lie_within_the_band_around_their_mean():
    assert windows_agree([50.0, 100.0, 104.0, 96.0], 10)  # the first window is ignored
    assert not windows_agree([100.0, 125.0, 100.0], 10)  # 125 is 15.4 % above the mean 108.3
    assert windows_agree([100.0, 125.0, 100.0], 16)
    assert not windows_agree([100.0, 100.0], 10)  # fewer than 3 windows
    assert not windows_agree([0.0, 0.0, 0.0], 10)  # nothing completed: too short to say
    assert not windows_agree([100.0, 100.0, 0.0], 50)


def test_summarize_windows_divides_all_requests_by_the_total_duration():
    windows = [Window(0.0, 1.0, (10.0,) * 40), Window(1.0, 2.0, (20.0,) * 50), Window(2.0, 3.5, (30.0,) * 60)]
    summary = summarize_windows(windows, batch_size=2)
    assert summary.throughput == pytest.approx(150 * 2 / 3.5)
    assert summary.latency_ms == {50: 20.0, 90: 30.0, 95: 30.0, 99: 30.0}
    assert (summary.start, summary.end) == (0.0, 3.5)
    assert windows[1].throughput(4) == 200.0


def test_summarize_windows_refuses_windows_where_nothing_completed():
    with pytest.raises(ValueError, match="no request completed"):
        summarize_windows([Window(0.0, 1.0, ())], batch_size=1)


def test_max_in_takes_samples_inside_the_interval_only_and_skips_missing_values():
    samples = [(0.0, 90.0), (1.0, 10.0), (2.0, None), (3.0, 30.0), (4.0, 80.0)]
    assert max_in(samples, 1.0, 3.0) == 30.0
    assert max_in(samples, 2.0, 2.0) is None
    assert max_in([], 0.0, 1.0) is None


def test_max_rate_averages_a_cumulative_counter_over_at_least_the_span():
    # 0.5 CPU-s per second, then one busy second at 2.0 CPU-s per second, sampled every 0.1 s
    times = [i / 10 for i in range(51)]
    counter, samples = 0.0, []
    for t in times:
        samples.append((t, counter))
        counter += (2.0 if 2.0 <= t < 3.0 else 0.5) * 0.1
    assert max_rate(samples, 0.0, 1.9, span_s=1.0) == pytest.approx(0.5)
    assert max_rate(samples, 0.0, 5.0, span_s=1.0) == pytest.approx(2.0)
    assert max_rate(samples, 0.0, 5.0, span_s=2.0) == pytest.approx(1.25)
    assert max_rate(samples, 2.0, 2.5, span_s=1.0) == pytest.approx(2.0)  # shorter than the span: ends
    assert max_rate(samples, 2.0, 2.0, span_s=1.0) is None


def test_eta_extrapolates_the_mean_time_per_finished_point():
    assert eta_seconds(30.0, 3, 12) == 90.0
    assert eta_seconds(30.0, 12, 12) == 0.0
    assert eta_seconds(0.0, 0, 12) is None
