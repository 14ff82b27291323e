"""The written plan directory's one owner: its writer and typed readers, and the files' schema_version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli import cli
from profiler import (
    DEFAULT_MIN_RATIO,
    Endpoint,
    InputError,
    did_you_mean,
    falls_short,
    read_plan,
    read_profile,
    read_validation,
    write_plan_directory,
)
from profiler.base.plan_dir import ENDPOINTS_CSV, PLAN_JSON, launch_script_name, repository_name
from profiler.base.schema_version import SCHEMA_VERSION, check_schema_version
from profiler.profiles.profile_io import write_profile
from profiler.validation.plan_file import read_deployment
from profiler.validation.records import ModelCheck

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"

PLAN = {
    "objective": "throughput",
    "gpu_memory_mb": 16000,
    "models": [],
    "gpus": [
        {
            "index": 0,
            "memory_mb": 3800.5,
            "gpu_util_pct": 90,
            "type": "small",
            "product_label": "NVIDIA-A10",
            "models": [
                {"name": "a", "batch_size": 4, "concurrency": 2, "throughput": 200, "memory_mb": 2000.0},
                {"name": "b", "batch_size": 1, "concurrency": 1, "throughput": 50.5},
            ],
        },
        {"index": 1, "models": [{"name": "a", "batch_size": 8, "concurrency": 4, "throughput": 300}]},
    ],
}
ENDPOINTS = (
    Endpoint("a", 0, "http://localhost:8000", "localhost:8001"),
    Endpoint("b", 0, "http://localhost:8000", "localhost:8001"),
    Endpoint("a", 1, "http://localhost:8003", "localhost:8004"),
)


def _fill(index: int, repository: Path) -> None:
    for model in PLAN["gpus"][index]["models"]:
        (repository / model["name"]).mkdir()
        (repository / model["name"] / "config.pbtxt").write_text(f'name: "{model["name"]}"\n')


def _write(tmp_path: Path) -> Path:
    scripts = {0: "#!/bin/sh\n# gpu 0\n", 1: "#!/bin/sh\n# gpu 1\n"}
    written = write_plan_directory(tmp_path / "deploy", PLAN, ENDPOINTS, scripts, _fill)
    assert written.repositories == (tmp_path / "deploy" / "gpu0", tmp_path / "deploy" / "gpu1")
    assert written.launch_scripts == (
        tmp_path / "deploy" / "launch-gpu0.sh",
        tmp_path / "deploy" / "launch-gpu1.sh",
    )
    return written.root


def test_a_written_plan_directory_reads_back_typed_with_its_endpoints_and_version(tmp_path: Path):
    root = _write(tmp_path)
    assert sorted(p.name for p in root.iterdir()) == [
        "endpoints.csv", "gpu0", "gpu1", "launch-gpu0.sh", "launch-gpu1.sh", "plan.json",
    ]  # fmt: skip
    document = json.loads((root / PLAN_JSON).read_text())
    assert next(iter(document)) == "schema_version" and document["schema_version"] == SCHEMA_VERSION
    assert document["endpoints"][2] == {
        "model": "a", "gpu": 1, "http_url": "http://localhost:8003", "grpc_url": "localhost:8004",
    }  # fmt: skip
    assert (root / ENDPOINTS_CSV).read_text().splitlines()[:2] == [
        "model,gpu,http_url,grpc_url",
        "a,0,http://localhost:8000,localhost:8001",
    ]
    assert (root / launch_script_name(1)).stat().st_mode & 0o111
    plan = read_plan(root)
    assert plan == read_plan(root / PLAN_JSON) and plan.schema_version == SCHEMA_VERSION
    gpu0, gpu1 = plan.gpus
    assert [m.name for m in gpu0.models] == ["a", "b"] and gpu0.promised_throughput == 250.5
    assert (gpu0.gpu_type, gpu0.product_label, gpu1.product_label) == ("small", "NVIDIA-A10", None)
    assert plan.endpoints == ENDPOINTS and plan.http_port(1) == 8003
    assert plan.repository(1) == root / repository_name(1) and plan.largest_batch("a") == 8
    assert plan.gpu_memory_mb == 16000 and plan.document["objective"] == "throughput"
    assert read_deployment(root) == plan  # validation reads the same plan, its folders checked


def test_a_failed_fill_leaves_no_directory_and_no_temporary_files(tmp_path: Path):
    def fail(index: int, repository: Path) -> None:
        raise InputError("no such model")

    with pytest.raises(InputError, match="no such model"):
        write_plan_directory(tmp_path / "deploy", PLAN, ENDPOINTS, {0: "", 1: ""}, fail)
    assert list(tmp_path.iterdir()) == []


def test_a_plan_without_endpoints_reads_but_has_no_port_to_export(tmp_path: Path):
    (tmp_path / PLAN_JSON).write_text(json.dumps(PLAN))
    plan = read_plan(tmp_path)
    assert plan.endpoints == () and plan.schema_version == "1.0"  # unversioned: the layout before 1.0
    with pytest.raises(
        InputError, match=r"not a plan written by --write-repositories \(no endpoint on GPU 0\)"
    ):
        plan.http_port(0)


def _newer(path: Path, data: dict, version: str = "2.3") -> Path:
    path.write_text(json.dumps({"schema_version": version, **data}))
    return path


NEWER = r"was written by a newer gpupack \(schema 2\.x\); this one reads 1\.x"


def test_a_plan_from_a_newer_major_version_is_refused_in_one_line(tmp_path: Path):
    _newer(tmp_path / PLAN_JSON, PLAN)
    with pytest.raises(InputError, match=NEWER) as caught:
        read_plan(tmp_path)
    assert "\n" not in caught.value.message and caught.value.hint == "upgrade gpupack to read it"
    _newer(tmp_path / PLAN_JSON, PLAN, "1.7")  # a newer minor adds keys this reader ignores
    assert read_plan(tmp_path).schema_version == "1.7"


@pytest.mark.parametrize("version", [2, "2", "one", "1.0.0", None])
def test_a_schema_version_that_is_not_major_dot_minor_is_refused(version: object):
    with pytest.raises(InputError, match="schema_version must be MAJOR.MINOR"):
        check_schema_version("plan.json", {"schema_version": version})


def test_every_command_refuses_a_newer_plan_directory(tmp_path: Path):
    _newer(tmp_path / PLAN_JSON, {**PLAN, "settings": {"objective": "throughput"}})
    _fill_all(tmp_path)
    for args in (
        ["validate", str(tmp_path)],
        ["export", str(tmp_path), "--compose", str(tmp_path / "c.yaml")],
        ["report", str(tmp_path), "-o", str(tmp_path / "r.html")],
        ["plan", "--config", str(tmp_path / PLAN_JSON)],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert "was written by a newer gpupack (schema 2.x); this one reads 1.x" in result.output, args
    assert not (tmp_path / "c.yaml").exists() and not (tmp_path / "r.html").exists()


def _fill_all(root: Path) -> None:
    for index in (0, 1):
        (root / repository_name(index)).mkdir()
        _fill(index, root / repository_name(index))


def test_a_newer_validation_is_refused_and_an_older_one_reads_with_the_default_ratio(tmp_path: Path):
    gpus = [{"index": 0, "models": [{"name": "a", "promised_throughput": 10, "measured_throughput": None}]}]
    with pytest.raises(InputError, match=NEWER):
        read_validation(_newer(tmp_path / "validation.json", {"gpus": gpus}))
    (tmp_path / "old.json").write_text(json.dumps({"gpus": gpus}))
    old = read_validation(tmp_path / "old.json")
    assert old.min_ratio == DEFAULT_MIN_RATIO == 0.9 and old.schema_version == "1.0"
    assert old.gpus[0].models[0].measured_throughput is None and old.gpus[0].promised_throughput is None


def test_a_profile_carries_its_schema_version_and_a_newer_one_is_refused(tmp_path: Path):
    profile = read_profile(ROOT / "packer" / "data" / "seed")
    write_profile(profile, tmp_path / "p")
    metadata = json.loads((tmp_path / "p" / "metadata.json").read_text())
    assert next(iter(metadata)) == "schema_version" and metadata["schema_version"] == SCHEMA_VERSION
    assert read_profile(tmp_path / "p").metadata == profile.metadata
    _newer(tmp_path / "p" / "metadata.json", {k: v for k, v in metadata.items() if k != "schema_version"})
    with pytest.raises(InputError, match=NEWER):
        read_profile(tmp_path / "p")


def test_the_committed_results_written_before_schema_versions_still_read():
    plans = sorted(RESULTS.rglob(PLAN_JSON))
    validations = sorted(RESULTS.rglob("validation.json"))
    assert plans and validations
    for path in plans:  # unversioned files read as 1.0, the others as what they declare
        declared = json.loads(path.read_text()).get("schema_version", "1.0")
        assert read_plan(path).schema_version == declared, path
    for path in validations:
        assert read_validation(path).gpus, path


def test_written_validation_json_and_plan_json_carry_the_version_first(tmp_path: Path):
    from profiler.validation.records import GpuCheck, ValidationResult
    from profiler.validation.report import validation_json

    result = ValidationResult(
        "d", 0.9, (GpuCheck(0, "0", None, (ModelCheck("a", 1, 1, 10.0, 9.5),)),), "m", "cpu"
    )
    document = json.loads(validation_json(result))
    assert list(document)[:2] == ["schema_version", "directory"]
    assert document["schema_version"] == SCHEMA_VERSION
    assert read_validation(_as_file(tmp_path, document)).gpus[0].models[0].measured_throughput == 9.5
    printed = CliRunner().invoke(cli, ["plan", "--json"])
    assert printed.exit_code == 0 and list(json.loads(printed.output))[:2] == ["schema_version", "objective"]


def _as_file(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "validation.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("measured", "promised", "error", "short"),
    [(90.0, 100.0, "", False), (89.9, 100.0, "", True), (None, 100.0, "", True), (5.0, 0.0, "", False),
     (100.0, 100.0, "oom", True)],
)  # fmt: skip
def test_falling_short_is_one_rule_for_validate_and_a_replan(measured, promised, error, short):
    check = ModelCheck("a", 1, 1, promised, measured_throughput=measured, error=error)
    assert check.short(DEFAULT_MIN_RATIO) is short
    assert falls_short(measured, promised, DEFAULT_MIN_RATIO, bool(error)) is short


def test_did_you_mean_suggests_the_closest_name_or_falls_back():
    assert did_you_mean("cnt", ["count", "name"]) == "did you mean 'count'?"
    assert (
        did_you_mean("GPUPACK_PLAN_JSNO", ["GPUPACK_PLAN_JSON"], quote=False)
        == "did you mean GPUPACK_PLAN_JSON?"
    )
    assert did_you_mean("zzz", ["count"]) is None
    assert did_you_mean("zzz", ["count"], "known keys: count") == "known keys: count"


def test_a_replan_from_plan_json_reads_its_settings_through_the_owner(tmp_path: Path):
    first = CliRunner().invoke(
        cli, ["plan", "--objective", "throughput", "--output", str(tmp_path / "p.json")]
    )
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, ["plan", "--config", str(tmp_path / "p.json"), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["objective"] == "throughput"
    assert yaml.safe_load((tmp_path / "p.json").read_text())["schema_version"] == SCHEMA_VERSION
