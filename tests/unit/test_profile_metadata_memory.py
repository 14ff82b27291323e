"""The driver's reserved GPU memory is recorded once, in the profile's metadata, and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.measure.request import ProfileRequest, build_metadata
from profiler.profiles.profile_io import read_profile, write_profile
from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint
from profiler.server.nvml import GpuInfo


def test_reserved_memory_goes_from_the_gpu_into_metadata_json_and_back(tmp_path: Path):
    gpu = GpuInfo(0, "NVIDIA H200", "GPU-1", 150_000.0, "580.159.04", True, reserved_memory_mb=645.0)
    request = ProfileRequest(models=("m",), model_repository=tmp_path)
    metadata = build_metadata(request, gpu, {}, "2.51.0", "gpupack built-in")
    assert metadata.gpu_reserved_memory_mb == 645.0
    assert "memory: from just before the point's first request" in metadata.notes
    write_profile(Profile(points=(ProfilePoint("m", 1, 1, throughput=10.0),), metadata=metadata), tmp_path)
    assert json.loads((tmp_path / "metadata.json").read_text())["gpu_reserved_memory_mb"] == 645.0
    assert read_profile(tmp_path).metadata.gpu_reserved_memory_mb == 645.0


def test_reserved_memory_cannot_be_negative():
    with pytest.raises(ValueError, match="gpu_reserved_memory_mb must be a number of MB within 0-"):
        ProfileMetadata(gpu_reserved_memory_mb=-1.0)
