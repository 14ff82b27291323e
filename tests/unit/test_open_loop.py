"""Open-loop (request-rate) load: the Poisson arrivals, and how a rate point is asked for and planned."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

import pytest

from profiler.base.errors import InputError
from profiler.commands.profile import ProfileJob
from profiler.measure.arrivals import poisson_gaps
from profiler.measure.loadgen import Load, _Driver
from profiler.measure.request import ProfileRequest
from profiler.measure.stats import STABLE_WINDOWS
from profiler.measure.sweep import SweepSpec, load_text
from profiler.validation.plan_file import read_deployment

RATE = 50.0
DRAWS = 20_000  # the mean of n exponential gaps has a relative spread of 1/sqrt(n): 0.7 %


def test_seeded_poisson_gaps_have_the_mean_of_the_rate_and_repeat_with_their_seed():
    gaps = list(itertools.islice(poisson_gaps(RATE, seed=7), DRAWS))
    assert abs(statistics.fmean(gaps) * RATE - 1) < 0.03
    assert abs(statistics.stdev(gaps) * RATE - 1) < 0.05  # exponential: the spread equals the mean
    assert gaps[:100] == list(itertools.islice(poisson_gaps(RATE, seed=7), 100))
    assert gaps[:100] != list(itertools.islice(poisson_gaps(RATE, seed=8), 100))


def test_poisson_gaps_refuse_a_rate_that_is_not_positive():
    with pytest.raises(ValueError, match="must be positive, got 0"):
        next(poisson_gaps(0.0))


def test_an_open_loop_load_has_concurrency_0_and_a_positive_rate():
    assert Load("h:1", "m", (), 0, request_rate=20.0).request_rate == 20.0
    with pytest.raises(ValueError, match="concurrency 0 and a positive rate"):
        Load("h:1", "m", (), 2, request_rate=20.0)
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        Load("h:1", "m", (), 0)


def test_a_sweep_measures_every_rate_after_the_concurrencies_of_each_batch_size():
    spec = SweepSpec(("m",), (1, 4), (1, 2), request_rates=(20.0,))
    assert spec.grid == [(1, 1, None), (1, 2, None), (1, 0, 20.0), (4, 1, None), (4, 2, None), (4, 0, 20.0)]
    assert load_text(0, 20.0) == "rate 20 requests/s" and load_text(2, None) == "concurrency 2"


def test_a_profile_request_refuses_a_rate_that_is_not_positive():
    with pytest.raises(InputError, match="--request-rate: positive requests/s"):
        ProfileRequest(("m",), model_repository=Path("repo"), request_rates=(-1.0,))


def test_a_config_search_refuses_request_rates_in_one_line():
    request = ProfileRequest(("m",), model_repository=Path("repo"), request_rates=(20.0,))
    conflict = ProfileJob(request, search="quick").conflict()
    assert conflict is not None and conflict.startswith(
        "--search measures concurrencies: drop --request-rate"
    )


def _plan(root: Path, model: dict) -> Path:
    (root / "gpu0" / "m").mkdir(parents=True)
    (root / "gpu0" / "m" / "config.pbtxt").write_text('name: "m"\n')
    (root / "plan.json").write_text(json.dumps({"gpus": [{"index": 0, "models": [model]}]}))
    return root


def test_a_planned_rate_point_reads_back_with_its_rate(tmp_path: Path):
    model = {"name": "m", "batch_size": 1, "concurrency": 0, "request_rate": 20, "throughput": 20}
    (planned,) = read_deployment(_plan(tmp_path, model)).gpus[0].models
    assert planned.request_rate == 20.0 and planned.concurrency == 0


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ({"concurrency": 0}, r"batch_size and concurrency must be ≥ 1 \(concurrency 0 with a positive"),
        (
            {"concurrency": 2, "request_rate": 20},
            "a request_rate point has concurrency 0 and a positive rate",
        ),
    ],
)
def test_a_planned_point_with_concurrency_0_needs_a_rate_and_a_rate_needs_concurrency_0(
    tmp_path: Path, load: dict, message: str
):
    model = {"name": "m", "batch_size": 1, "throughput": 20} | load
    with pytest.raises(InputError, match=message):
        read_deployment(_plan(tmp_path, model))


def test_arrivals_dropped_past_the_in_flight_cap_count_in_their_window_and_make_the_point_unstable():
    driver = _Driver(Load("h:1", "m", (), 0, request_rate=RATE), client=None)  # type: ignore[arg-type]
    for window in range(STABLE_WINDOWS):
        driver.latencies_ms += [20.0] * 50
        driver.ends += [float(window)] * 50
        driver.dropped += 2 if window == 1 else 0
        driver.cut(float(window), window + 1.0)
    assert driver.window_drops == [0, 2, 0] and driver.recent_drops() == 2
    measured = driver.measurement(stability_pct=10.0)
    assert measured.throughput == 50.0 and measured.failed_requests == 2 and measured.stable is False


def test_the_first_window_counts_only_what_completes_after_the_warm_up():
    driver = _Driver(Load("h:1", "m", (), 0, request_rate=RATE), client=None)  # type: ignore[arg-type]
    driver.latencies_ms += [20.0] * 30  # the warm-up's completions and drops
    driver.ends += [0.0] * 30
    driver.dropped = 3
    driver.begin()
    for window in range(1, STABLE_WINDOWS + 1):
        driver.latencies_ms += [20.0] * 50
        driver.ends += [float(window)] * 50
        driver.cut(float(window), window + 1.0)
    assert [w.requests for w in driver.windows] == [50] * STABLE_WINDOWS
    assert driver.window_drops == [0] * STABLE_WINDOWS
    measured = driver.measurement(stability_pct=10.0)
    assert measured.throughput == 50.0 and measured.stable is True and measured.windows == STABLE_WINDOWS
