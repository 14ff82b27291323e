"""`gpupack profile --search`: the job's option combinations, the p99 bounds of a targets file, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from profiler import InputError
from profiler.commands.profile import ProfileJob
from profiler.measure.latency_bounds import read_latency_bounds
from profiler.measure.request import ProfileRequest
from profiler.measure.shards import Shard
from profiler.measure.variants import VariantSpace

LOCAL = ProfileRequest(models=("a", "b"), model_repository=Path("repo"))
REMOTE = ProfileRequest(models=("a",), triton_url="localhost:8001")


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (ProfileJob(REMOTE, search="quick", space=VariantSpace()), "--search needs local mode"),
        (ProfileJob(LOCAL, gpus=(0, 1), search="brute", space=VariantSpace()), "drop --gpus/--shard"),
        (ProfileJob(LOCAL, shard=Shard(0, 2), search="quick", space=VariantSpace()), "drop --gpus/--shard"),
        (
            ProfileJob(LOCAL, search_options_given=("max_instances", "targets")),
            "--max-instances, --targets: only with --search",
        ),
    ],
)
def test_profile_job_names_the_search_option_combination_that_makes_no_sense(job: ProfileJob, message: str):
    assert message in (job.conflict() or "")


def test_profile_job_search_takes_the_p99_bounds_of_the_models_it_searches_only(tmp_path: Path):
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        "a: {throughput: 10, max_latency_p99_ms: 150}\nb: 20\nc: {throughput: 5, max_latency_p99_ms: 9}\n"
    )
    job = ProfileJob(LOCAL, search="quick", space=VariantSpace(max_instances=2), targets=targets)
    assert job.conflict() is None
    request = job.search_request()
    assert request.mode == "quick" and request.space.max_instances == 2
    assert request.latency_bounds_ms == (("a", 150.0),)


def test_latency_bounds_read_both_forms_of_the_planners_targets_file(tmp_path: Path):
    csv = tmp_path / "targets.csv"
    csv.write_text("model,throughput,max_latency_p99_ms\na,10,80\nb,20,\n")
    assert read_latency_bounds(csv) == {"a": 80.0}
    yaml_file = tmp_path / "targets.yaml"
    yaml_file.write_text("a: 10\nb: {throughput: 3, max_latency_p99_ms: 2.5}\n")
    assert read_latency_bounds(yaml_file) == {"b": 2.5}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: {throughput: 1, max_latency_p99: 5}\n", "unknown key 'max_latency_p99'"),
        ("a: {throughput: 1, max_latency_p99_ms: -5}\n", "must be a positive number of ms"),
        ("a: [\n", "not valid YAML"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_latency_bounds_refuse_a_bad_targets_file(tmp_path: Path, text: str, message: str):
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_latency_bounds(path)


def test_profile_cli_refuses_search_options_without_search_before_measuring(tmp_path: Path):
    result = CliRunner().invoke(
        cli, ["profile", "--model-repository", str(tmp_path), "--models", "a", "--queue-delays-us", "0,100"]
    )
    assert result.exit_code == 2
    assert "--queue-delays-us: only with --search brute|quick" in result.output


def test_profile_cli_refuses_a_bad_search_space_in_one_line(tmp_path: Path):
    result = CliRunner().invoke(
        cli,
        ["profile", "--model-repository", str(tmp_path), "--models", "a", "--search", "quick",
         "--max-batch-sizes", "0"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--max-batch-sizes" in result.output and "Traceback" not in result.output
