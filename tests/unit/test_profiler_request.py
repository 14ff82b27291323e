"""What a profile request may ask, and when a profile may be resumed."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.base.errors import InputError
from profiler.measure.loadgen import MeasureSettings
from profiler.measure.request import ProfileRequest, build_metadata, check_resumable, existing_profile
from profiler.profiles.profile_io import write_profile
from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint


def test_exactly_one_of_local_and_remote_mode():
    assert ProfileRequest(("m",), model_repository=Path("repo")).mode == "local"
    assert ProfileRequest(("m",), triton_url="h:8001").mode == "remote"
    with pytest.raises(InputError, match="not both or neither"):
        ProfileRequest(("m",))
    with pytest.raises(InputError, match="not both or neither"):
        ProfileRequest(("m",), model_repository=Path("repo"), triton_url="h")
    with pytest.raises(InputError, match="--metrics-url is for remote mode"):
        ProfileRequest(("m",), model_repository=Path("repo"), metrics_url="http://h:8002/metrics")


def test_model_names_cannot_be_paths():
    for bad in ("../m", "a/b", ".hidden"):
        with pytest.raises(InputError, match="is not a model name"):
            ProfileRequest((bad,), model_repository=Path("repo"))


def test_measure_settings_refuse_impossible_windows():
    with pytest.raises(ValueError, match="at least 3"):
        MeasureSettings(max_windows=2)
    with pytest.raises(ValueError, match="stability"):
        MeasureSettings(stability_pct=0)
    with pytest.raises(ValueError, match="positive"):
        MeasureSettings(window_s=0)


def test_an_existing_profile_is_kept_only_with_resume(tmp_path: Path):
    request = ProfileRequest(("m",), model_repository=Path("repo"), output=tmp_path)
    assert existing_profile(request) is None
    write_profile(Profile(points=(ProfilePoint("m", 1, 1, throughput=5.0),)), tmp_path)
    with pytest.raises(InputError, match="already holds a profile"):
        existing_profile(request)
    resumed = ProfileRequest(("m",), model_repository=Path("repo"), output=tmp_path, resume=True)
    assert existing_profile(resumed).points[0].throughput == 5.0


def test_resume_refuses_a_profile_from_another_gpu_or_load_generator():
    request = ProfileRequest(("m",), model_repository=Path("repo"))
    metadata = build_metadata(request, None, {}, "2.51.0", "gpupack built-in")
    assert metadata.device == "cpu" and metadata.triton_version == "2.51.0" and metadata.notes
    same = Profile(points=(), metadata=ProfileMetadata(device="cpu", load_generator="gpupack built-in"))
    check_resumable(same, metadata)
    check_resumable(None, metadata)
    other = Profile(points=(), metadata=ProfileMetadata(device="cpu", load_generator="perf_analyzer 2.51.0"))
    with pytest.raises(InputError, match="measured with load_generator 'perf_analyzer 2.51.0'"):
        check_resumable(other, metadata)
