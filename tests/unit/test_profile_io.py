"""Reading and writing profiles: gpupack's format, Model Analyzer's export, and every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.base.errors import InputError
from profiler.profiles.profile_io import read_profile, write_profile
from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint, ServerBaseline

MA_HEADER = (
    "Model,Batch,Concurrency,Throughput,MaxMemoryUtil(%),MaxGpuUtil(%),_MaxBar1(MB),MaxFramebuffer(MB)\n"
)


def test_builtin_seed_profile_reads_as_table_2(seed_dir: Path):
    profile = read_profile(seed_dir)
    assert len(profile.models()) == 9
    assert profile.server.memory_mb == 309
    assert profile.metadata.gpu_memory_mb == 16000
    assert sum(p.gpu_util_pct for p in profile.points) == 491
    assert sum(p.mem_util_pct for p in profile.points) == 332


def test_write_then_read_round_trips_every_field(tmp_path: Path):
    point = ProfilePoint(
        model="m",
        batch_size=4,
        concurrency=2,
        instance_count=2,
        throughput=123.5,
        latency_p50_ms=1.5,
        latency_p90_ms=2,
        latency_p95_ms=2.5,
        latency_p99_ms=3,
        gpu_util_pct=40,
        mem_util_pct=10,
        sm_activity_pct=30,
        memory_mb=1234.5,
        host_memory_mb=800,
        server_cpu_pct=150,
        stable=False,
        selected=True,
    )
    failed = ProfilePoint(model="bad", batch_size=1, concurrency=1, error="failed to load: boom")
    profile = Profile(
        points=(point, failed),
        server=ServerBaseline(memory_mb=500, gpu_util_pct=0),
        metadata=ProfileMetadata(
            device="gpu", gpu_name="NVIDIA H100", gpu_memory_mb=81559, date="2026-11-25"
        ),
    )
    write_profile(profile, tmp_path / "out")
    back = read_profile(tmp_path / "out")
    assert back.points == profile.points
    assert back.server == profile.server
    assert back.metadata == profile.metadata
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_model_analyzer_export_is_read_from_directory_or_file(tmp_path: Path, seed_dir: Path):
    rows = read_profile(seed_dir).points
    text = MA_HEADER + "".join(
        f"{p.model},{p.batch_size},{p.concurrency},{p.throughput},{p.mem_util_pct},{p.gpu_util_pct},0,{p.memory_mb}\n"
        for p in rows
    )
    (tmp_path / "metrics-model.csv").write_text(text)
    (tmp_path / "metrics-server-only.csv").write_text(MA_HEADER + "triton-server,1,1,0,0,0,0,309\n")
    for path in (tmp_path, tmp_path / "metrics-model.csv"):
        profile = read_profile(path)
        assert [p.model for p in profile.points] == [p.model for p in rows]
        assert profile.points[1].memory_mb == 5035
        assert profile.points[1].mem_util_pct == 11
        assert profile.server.memory_mb == 309


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model,batch_size,concurrency\nm,1,1\n", r"missing column 'throughput_infer_per_sec'"),
        (
            "model,batch_size,concurrency,throughput_infer_per_sec,max_gpu_memroy_mb\nm,1,1,5,3\n",
            r"unknown column 'max_gpu_memroy_mb'",
        ),
        (
            "model,batch_size,concurrency,throughput_infer_per_sec,max_gpu_memory_mb\nm,1,1,5,lots\n",
            r"row 1 \(model 'm'\): column 'max_gpu_memory_mb': expected a number, got 'lots'",
        ),
        (
            "model,batch_size,concurrency,throughput_infer_per_sec,max_gpu_memory_mb\nm,1,1,5,-3\n",
            r"row 1 \(model 'm'\): column 'max_gpu_memory_mb': expected a number within 0-1e\+09, got '-3'",
        ),
        (
            "model,batch_size,concurrency,throughput_infer_per_sec\nm,0,1,5\n",
            r"column 'batch_size': expected a whole number within 1-2147483647, got '0'",
        ),
        ("model,batch_size,concurrency,throughput_infer_per_sec\nm,1.5,1,5\n", r"expected a whole number"),
        (
            "model,batch_size,concurrency,throughput_infer_per_sec\nm,1,1,\n",
            r"'throughput_infer_per_sec' is empty",
        ),
        ("model,batch_size,concurrency,throughput_infer_per_sec\n", r"no rows"),
        ("", r"empty file"),
    ],
)
def test_bad_profile_rows_get_one_clear_error_naming_file_row_and_column(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=message) as caught:
        read_profile(path)
    assert str(path) in caught.value.message


def test_unknown_column_suggests_the_right_name(tmp_path):
    path = write(
        tmp_path, "model,batch_size,concurrency,throughput_infer_per_sec,max_gpu_memroy_mb\nm,1,1,5,3\n"
    )
    with pytest.raises(InputError) as caught:
        read_profile(path)
    assert caught.value.hint == "did you mean 'max_gpu_memory_mb'?"


def test_missing_path_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        read_profile(tmp_path / "nope")
    with pytest.raises(InputError, match="no profile.csv"):
        read_profile(tmp_path)


def test_bad_metadata_key_is_refused(seed_dir):
    (seed_dir / "metadata.json").write_text('{"gpu_memory": 16000}')
    with pytest.raises(InputError, match=r"unknown key 'gpu_memory'"):
        read_profile(seed_dir)
