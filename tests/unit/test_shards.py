"""Shards of the model list and their merge (pure logic; the CLI's sharded runs are integration tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from profiler.base.errors import InputError
from profiler.measure.shards import Shard, merge
from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint, ServerBaseline

MODELS = ["e", "a", "d", "b", "c"]


def test_shards_are_disjoint_deterministic_and_cover_every_model():
    parts = [Shard(i, 3).models(MODELS) for i in range(3)]
    assert parts == [["a", "d"], ["b", "e"], ["c"]]
    assert sorted(m for part in parts for m in part) == sorted(MODELS)
    assert Shard.parse(" 2/3 ") == Shard(2, 3) and str(Shard(2, 3)) == "2/3"


@pytest.mark.parametrize("text", ["3/3", "1", "-1/2", "a/b", "0/0"])
def test_a_bad_shard_is_refused(text: str):
    with pytest.raises(InputError, match="--shard"):
        Shard.parse(text)


def shard(source: str, models: list[str], memory: float, **metadata: str) -> Profile:
    meta = {"gpu_name": "H200", "triton_version": "2.51.0", "load_generator": "builtin"} | metadata
    return Profile(
        tuple(ProfilePoint(m, 1, 1, throughput=10.0) for m in models),
        ServerBaseline(memory_mb=memory),
        ProfileMetadata(device="gpu", **meta),
        source,
    )


def test_merge_joins_points_and_keeps_the_largest_server_reading():
    merged = merge([shard("s0", ["a", "d"], 600.0), shard("s1", ["b", "e"], 650.0)])
    assert merged.models() == ("a", "d", "b", "e")
    assert merged.server.memory_mb == 650.0
    assert merged.metadata.notes.startswith("merged from 2 shards")


@pytest.mark.parametrize(
    ("field", "words"),
    [("gpu_name", "GPU type"), ("triton_version", "server version"), ("load_generator", "load generator")],
)
def test_merge_refuses_shards_that_do_not_compare(field: str, words: str):
    other = shard("s1", ["b"], 600.0, **{field: "other"})
    with pytest.raises(InputError, match=f"s1: measured with another {words}"):
        merge([shard("s0", ["a"], 600.0), other])


def test_merge_refuses_a_model_in_two_shards():
    with pytest.raises(InputError, match="model 'a' is in two shards: s0 and s1"):
        merge([shard("s0", ["a"], 600.0), shard("s1", ["a", "b"], 600.0)])


def test_profile_merge_refuses_shards_from_another_load_generator_and_writes_nothing(tmp_path: Path):
    for name, generator in (("a", "builtin"), ("b", "perf_analyzer")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "profile.csv").write_text(
            f"model,batch_size,concurrency,throughput_infer_per_sec\nm{name},1,1,1\n"
        )
        (tmp_path / name / "metadata.json").write_text(json.dumps({"load_generator": generator}))
    result = CliRunner().invoke(
        cli, ["profile", "merge", str(tmp_path / "out"), str(tmp_path / "a"), str(tmp_path / "b")]
    )
    assert result.exit_code == 2 and "another load generator" in result.output
    assert not (tmp_path / "out").exists()
