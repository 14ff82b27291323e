"""The config search's request: what it refuses before any server starts, and nothing left behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from profiler.base.errors import InputError
from profiler.measure.request import ProfileRequest
from profiler.measure.search_run import SearchRequest, run_config_search
from profiler.measure.variants import VariantSpace

EXAMPLES = Path(__file__).resolve().parents[2] / "profiler" / "examples"


class Quiet:
    def progress(self, event: object) -> None:
        raise AssertionError("nothing is measured")

    def notice(self, message: str) -> None:
        pass


def _profile(tmp_path: Path, **changes: object) -> ProfileRequest:
    fields: dict = {"models": ("batched_sleeper",), "output": tmp_path / "out", "model_repository": EXAMPLES}
    return ProfileRequest(**{**fields, **changes})


def test_search_needs_local_mode(tmp_path: Path):
    remote = ProfileRequest(models=("m",), output=tmp_path / "out", triton_url="localhost:8001")
    with pytest.raises(InputError, match="--search needs local mode"):
        SearchRequest(remote)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "optuna"}, "--search must be brute or quick"),
        ({"latency_bounds_ms": (("other", 10.0),)}, "a p99 bound for 'other', which is not among"),
        ({"latency_bounds_ms": (("batched_sleeper", 0.0),)}, "the p99 bound must be a positive number"),
        ({"latency_bounds_ms": (("batched_sleeper", float("nan")),)}, "the p99 bound must be a positive"),
        ({"memory_limit_mb": -1.0}, "the memory limit must be a positive number of MB"),
    ],
)
def test_bad_search_request_is_refused(tmp_path: Path, changes: dict, message: str):
    with pytest.raises(InputError, match=message):
        SearchRequest(_profile(tmp_path), **changes)


def test_limits_take_the_models_bound_and_the_devices_memory_unless_given(tmp_path: Path):
    request = SearchRequest(_profile(tmp_path), latency_bounds_ms=(("batched_sleeper", 50.0),))
    limits = request.limits("batched_sleeper", 80_000.0)
    assert (limits.latency_p99_ms, limits.memory_mb) == (50.0, 80_000.0)
    given = SearchRequest(_profile(tmp_path), memory_limit_mb=1000.0).limits("batched_sleeper", None)
    assert (given.latency_p99_ms, given.memory_mb) == (None, 1000.0)


def test_batch_size_no_variant_takes_is_refused_before_anything_is_written(tmp_path: Path):
    repository = tmp_path / "models"
    for name in ("identity", "batched_sleeper"):
        shutil.copytree(EXAMPLES / name, repository / name)
    request = SearchRequest(
        _profile(
            tmp_path, models=("identity", "batched_sleeper"), batch_sizes=(8,), model_repository=repository
        ),
        space=VariantSpace(max_instances=1),
    )
    with pytest.raises(
        InputError, match="batched_sleeper: no variant takes batch size 8: its max_batch_size is at most 4"
    ):
        run_config_search(request, Quiet())
    assert not (tmp_path / "out").exists()


def test_model_without_a_config_is_refused_before_anything_is_written(tmp_path: Path):
    repository = tmp_path / "models"
    (repository / "bare" / "1").mkdir(parents=True)
    request = SearchRequest(_profile(tmp_path, models=("bare",), model_repository=repository))
    with pytest.raises(InputError, match="no config.pbtxt"):
        run_config_search(request, Quiet())
    assert not (tmp_path / "out").exists()
