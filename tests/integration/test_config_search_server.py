"""The config search against a real tritonserver: the example model of known behaviour, a p99 bound."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from profiler_support import BROKEN_MODEL, EXAMPLES, wait_until_gone

from profiler.measure import search_driver
from profiler.measure.loadgen import MeasureSettings
from profiler.measure.request import ProfileRequest
from profiler.measure.search_run import VARIANTS_DIR, SearchRequest, run_config_search
from profiler.measure.variants import VariantSpace, read_config
from profiler.profiles.profile_io import read_profile

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

MODEL = "batched_sleeper"
# Short windows keep the test near a minute on a loaded 2-core host (see profiler_support.FAST); a
# long service time keeps the theory's latencies (one round of calls or two) far apart, farther than
# the scheduling delays of such a host (tens of ms).
SETTINGS = MeasureSettings(window_s=0.4, warmup_s=0.2, max_windows=5)
SERVICE_MS = 200
CONCURRENCIES = (1, 8)
QUEUE_DELAY_US = 10_000
BOUND_MS = 300.0


class Collect:
    """A reporter that keeps what it is told."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.notices: list[str] = []

    def progress(self, event: object) -> None:
        self.events.append(event)

    def notice(self, message: str) -> None:
        self.notices.append(message)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _request(repository: Path, output: Path, resume: bool = False) -> SearchRequest:
    return SearchRequest(
        ProfileRequest(
            models=(MODEL,),
            batch_sizes=(1,),
            concurrencies=CONCURRENCIES,
            output=output,
            model_repository=repository,
            settings=SETTINGS,
            resume=resume,
            reload_per_batch=False,
        ),
        mode="quick",
        space=VariantSpace(max_instances=2, queue_delays_us=(QUEUE_DELAY_US,)),
        latency_bounds_ms=((MODEL, BOUND_MS),),
    )


def test_quick_search_finds_the_variant_theory_says_is_best_under_a_p99_bound(tmp_path: Path):
    # The example's header with S = 200 ms per call and max_batch_size 4, at batch 1: without the
    # dynamic batcher, I instances serve at most 5 * I infer/s, and above concurrency I a request
    # waits ceil(c / I) rounds (p99 >= 400 ms, over the 300 ms bound). With it, a call carries up to 4
    # requests: at concurrency 8, 1 instance serves 20 infer/s in two rounds (p99 400 ms, over the
    # bound), 2 instances 40 infer/s in one (p99 200 ms). Theory's best under the bound: the batcher
    # on, 2 instances, concurrency 8, 40 infer/s.
    repository = tmp_path / "models"
    shutil.copytree(EXAMPLES / MODEL, repository / MODEL)
    config_file = repository / MODEL / "config.pbtxt"
    config_file.write_text(
        config_file.read_text().replace('string_value: "40"', f'string_value: "{SERVICE_MS}"')
    )
    before = _snapshot(repository)
    output = tmp_path / "search"
    reporter = Collect()
    result = run_config_search(_request(repository, output), reporter)
    left = wait_until_gone(output / VARIANTS_DIR)
    assert not left, f"tritonserver processes outlived the search: {left}"

    assert result.failed == 0 and result.measured <= 2 * 2 * len(CONCURRENCIES), result.summary()
    best = dict(result.best)[MODEL]
    assert best is not None, result.summary()
    assert (best.dynamic_batching, best.max_queue_delay_us, best.instance_count) == (True, QUEUE_DELAY_US, 2)
    assert best.concurrency == 8 and best.latency_p99_ms <= BOUND_MS
    assert 40 * 0.75 <= best.throughput <= 40 * 1.05  # the theory is a ceiling; overhead costs some

    written = read_profile(output)
    assert len(written.points) == result.measured == len(reporter.events)
    assert all(p.model == MODEL and p.max_batch_size == 4 and p.variant for p in written.points)
    assert written.server.host_memory_mb and written.metadata.triton_version
    memory = {
        p.instance_count: p.host_memory_mb
        for p in written.points
        if p.dynamic_batching and p.concurrency == 8
    }
    assert memory[2] - memory[1] >= 64  # an instance holds its 64 MB buffer
    one_instance = [p for p in written.points if p.dynamic_batching and p.instance_count == 1]
    assert max(p.latency_p99_ms for p in one_instance if p.concurrency == 8) > BOUND_MS  # two rounds

    assert _snapshot(repository) == before  # the variants went to the scratch repository only
    config = read_config(output / VARIANTS_DIR / best.variant)
    assert config.name == best.variant and config.instance_group[0].count == 2
    assert config.dynamic_batching.max_queue_delay_microseconds == QUEUE_DELAY_US

    # Resumed, the search takes the same decisions from the profile and measures nothing again.
    again = run_config_search(_request(repository, output, resume=True), Collect())
    assert (again.measured, again.reused) == (0, result.measured)
    resumed = dict(again.best)[MODEL]
    assert (resumed.variant, resumed.concurrency) == (best.variant, best.concurrency)
    assert resumed.throughput == pytest.approx(best.throughput, rel=1e-5)  # as the CSV keeps it
    assert not wait_until_gone(output / VARIANTS_DIR)


def test_variant_that_fails_to_load_gets_error_points_and_the_search_goes_on(tmp_path: Path):
    repository = tmp_path / "models"
    shutil.copytree(EXAMPLES / "identity", repository / "broken")
    (repository / "broken" / "1" / "model.py").write_text(BROKEN_MODEL)
    output = tmp_path / "search"
    request = SearchRequest(
        ProfileRequest(
            models=("broken",),
            concurrencies=(1, 2),
            output=output,
            model_repository=repository,
            settings=SETTINGS,
        ),
        mode="brute",
        space=VariantSpace(max_instances=1, queue_delays_us=()),
    )
    result = run_config_search(request, Collect())
    assert not wait_until_gone(output / VARIANTS_DIR)

    assert (result.measured, result.failed) == (0, 2) and dict(result.best)["broken"] is None
    first, second = read_profile(output).points
    assert "fails to load on purpose" in first.error
    assert second.error.startswith("not measured: ") and "fails to load on purpose" in second.error
    assert (repository / "broken" / "config.pbtxt").read_text() == (
        EXAMPLES / "identity" / "config.pbtxt"
    ).read_text()


# Its first variant (config_0) takes a minute to unload: its finalize (run as the server unloads it)
# sleeps, as the one unload seen to hang on this host never ended.
SLOW_UNLOAD_MODEL = """
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.name = args["model_name"]

    def execute(self, requests):
        return [
            pb_utils.InferenceResponse(
                [pb_utils.Tensor("OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy())]
            )
            for r in requests
        ]

    def finalize(self):
        if self.name.endswith("_config_0"):
            time.sleep(60)
"""


def test_a_variant_that_does_not_unload_in_time_restarts_the_server_and_the_next_one_is_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(search_driver, "SWITCH_UNLOAD_S", 2.0)
    repository = tmp_path / "models"
    shutil.copytree(EXAMPLES / "identity", repository / "slow")
    (repository / "slow" / "1" / "model.py").write_text(SLOW_UNLOAD_MODEL)
    output = tmp_path / "search"
    request = SearchRequest(
        ProfileRequest(
            models=("slow",),
            concurrencies=(1,),
            output=output,
            model_repository=repository,
            settings=SETTINGS,
            reload_per_batch=False,
        ),
        mode="brute",
        space=VariantSpace(max_instances=2, queue_delays_us=()),
    )
    reporter = Collect()
    result = run_config_search(request, reporter)
    assert not wait_until_gone(output / VARIANTS_DIR)

    assert (result.measured, result.failed) == (2, 0), result.summary()
    assert [p.variant for p in read_profile(output).points] == ["slow_config_0", "slow_config_1"]
    restarts = [n for n in reporter.notices if "restarting tritonserver" in n]
    assert restarts == [
        "slow_config_0: still loaded 2 s after the unload request (a variant here unloads within "
        "seconds; a restart is quicker); restarting tritonserver"
    ]
