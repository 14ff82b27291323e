"""Sharded profiling on the real CPU server: two shards run apart and merged, or at once with --gpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from profiler_support import EXAMPLES, FAST, profile, wait_until_gone

from cli import cli
from profiler.profiles.profile_io import read_profile

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def examples(tmp_path: Path):
    repo = tmp_path / "models"
    for name in ("identity", "sleepy"):
        shutil.copytree(EXAMPLES / name, repo / name)
    yield repo
    assert wait_until_gone(repo) == []


def test_two_shards_profiled_apart_merge_into_one_profile_that_plans(examples: Path, tmp_path: Path):
    shards = []
    for i in range(2):
        out = tmp_path / f"shard-{i}"
        result = profile("--model-repository", examples, "--shard", f"{i}/2", "--output", out, *FAST)
        assert result.exit_code == 0, result.output
        shards.append(out)
    assert [read_profile(s).models() for s in shards] == [("identity",), ("sleepy",)]
    merged = tmp_path / "merged"
    result = CliRunner().invoke(cli, ["profile", "merge", str(merged), *map(str, shards)])
    assert result.exit_code == 0, result.output
    assert read_profile(merged).models() == ("identity", "sleepy")
    planned = CliRunner().invoke(cli, ["plan", "--profiles", str(merged), "--gpu-memory", "1GB", "--json"])
    assert planned.exit_code == 0, planned.output
    assert sorted(m["name"] for g in json.loads(planned.output)["gpus"] for m in g["models"]) == [
        "identity",
        "sleepy",
    ]


def test_gpus_runs_one_server_per_shard_at_once_and_merges(examples: Path, tmp_path: Path):
    out = tmp_path / "profile"
    result = profile("--model-repository", examples, "--gpus", "0,1", "--output", out, *FAST)
    assert result.exit_code == 0, result.output
    assert read_profile(out).models() == ("identity", "sleepy")
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["shard-0", "shard-1"]
    assert "merged from 2 shards" in read_profile(out).metadata.notes
