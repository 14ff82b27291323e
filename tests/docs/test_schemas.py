"""The shipped JSON Schemas against real outputs: fresh plans, the examples, the committed results."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from referencing import Registry, Resource

from cli import cli

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
SCHEMA_NAMES = [
    "fleet",
    "metadata",
    "plan",
    "profile-row",
    "rules",
    "server-only-row",
    "targets",
    "validation",
]
# Committed files that are not gpupack's output, with why (each is checked to still say so).
NOT_OUTPUTS = {
    "h200-2026-12-01/run-a/validation-1/validation.json": "transcribed by hand from the device call's report",
}


def _schema(name: str) -> dict:
    text = resources.files("profiler.base").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    registry = Registry().with_resources(
        (_schema(n)["$id"], Resource.from_contents(_schema(n))) for n in SCHEMA_NAMES
    )
    return jsonschema.Draft202012Validator(_schema(name), registry=registry)


def _valid(name: str, instance: object) -> None:
    errors = sorted(_validator(name).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def _plan(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["plan", "--json", "--quiet", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_shipped_schema_is_a_valid_draft_2020_12_schema(name):
    schema = _schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


PLANS = {
    "builtin-min-gpus": ["--objective", "min-gpus"],
    "builtin-throughput": ["--objective", "throughput"],
    "choose-points": ["--profiles", "examples/profiles/small-16gb", "--choose-points"],
    "targets": ["--profiles", "examples/profiles/small-16gb", "--targets", "examples/targets.yaml"],
    "budget": ["--profiles", "examples/profiles/small-16gb", "--objective", "throughput", "--gpus", "6"],
    "fleet-targets": ["--fleet", "examples/fleet.yaml", "--targets", "examples/targets.yaml"],
    "fleet-rules": [
        "--fleet",
        "examples/fleet.yaml",
        "--objective",
        "throughput",
        "--choose-points",
        "--pin",
        "segmentation_liver=large-48gb",
        "--apart",
        "segmentation_ct_pancreas,segmentation_ct_spleen",
        "--max-models-per-gpu",
        "3",
        "--headroom",
        "10",
    ],
    "model-analyzer": ["--profiles", "tests/data/model-analyzer/multi-model-ckpt"],
    "cpu-host": ["--profiles", "examples/profiles/cpu-host", "--choose-points", "--gpu-memory", "1GB"],
}


@pytest.mark.parametrize("args", PLANS.values(), ids=PLANS.keys())
def test_plan_json_of_the_examples_matches_the_plan_schema(args, monkeypatch):
    monkeypatch.chdir(REPO)
    plan = _plan(*args)
    _valid("plan", plan)
    # A fresh plan has every key the schema names (only --write-repositories adds the endpoints).
    missing = set(_schema("plan")["properties"]) - set(plan) - {"endpoints", "schema_version"}
    assert not missing


def test_plan_schema_refuses_a_plan_with_an_unknown_key_or_a_wrong_type(monkeypatch):
    monkeypatch.chdir(REPO)
    plan = _plan()
    assert list(_validator("plan").iter_errors({**plan, "gpu_cout": 4}))
    assert list(_validator("plan").iter_errors({**plan, "gpu_count": "4"}))


def _committed(pattern: str) -> list[Path]:
    found = sorted(RESULTS.rglob(pattern))
    assert found, pattern
    return found


@pytest.mark.parametrize("path", _committed("plan.json"), ids=lambda p: str(p.relative_to(RESULTS)))
def test_committed_benchmark_plans_match_the_plan_schema(path):
    _valid("plan", json.loads(path.read_text()))


@pytest.mark.parametrize("path", _committed("validation.json"), ids=lambda p: str(p.relative_to(RESULTS)))
def test_committed_benchmark_validations_match_the_validation_schema(path):
    data = json.loads(path.read_text())
    if str(path.relative_to(RESULTS)) in NOT_OUTPUTS:
        assert "transcribed" in data["source"]
        return
    _valid("validation", data)


def _profiles() -> list[Path]:
    return sorted(
        {p.parent for p in [*RESULTS.rglob("profile.csv"), *(REPO / "examples").rglob("profile.csv")]}
        | {REPO / "packer" / "data" / "seed"}
    )


@pytest.mark.parametrize("profile", _profiles(), ids=lambda p: str(p.relative_to(REPO)))
def test_profiles_rows_and_metadata_match_their_schemas(profile):
    check_profile(profile)


def check_profile(profile: Path) -> None:
    """Every row of a profile directory's CSV files, and its metadata, against their schemas."""
    with (profile / "profile.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    for row in rows:
        _valid("profile-row", row)
    if (profile / "server-only.csv").exists():
        with (profile / "server-only.csv").open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                _valid("server-only-row", row)
    if (profile / "metadata.json").exists():
        _valid("metadata", json.loads((profile / "metadata.json").read_text()))


def test_profile_row_schema_refuses_an_unknown_column_and_a_text_number():
    row = {"model": "m", "batch_size": "1", "concurrency": "1", "throughput_infer_per_sec": "10.5"}
    _valid("profile-row", row)
    assert list(_validator("profile-row").iter_errors({**row, "througput": "1"}))
    assert list(_validator("profile-row").iter_errors({**row, "batch_size": "two"}))


def test_example_fleet_and_targets_files_match_their_schemas():
    _valid("fleet", yaml.safe_load((REPO / "examples" / "fleet.yaml").read_text()))
    _valid("targets", yaml.safe_load((REPO / "examples" / "targets.yaml").read_text()))


def test_fleet_schema_checks_the_rules_of_the_documented_fleet_file():
    fleet = yaml.safe_load((REPO / "examples" / "fleet.yaml").read_text())
    rules = {
        "pin": {"segmentation_liver": "large-48gb"},
        "apart": [["segmentation_ct_pancreas", "segmentation_ct_spleen"]],
        "together": ["classification_breast,classification_chest"],
        "max_models_per_gpu": 3,
        "headroom_pct": 10,
    }
    _valid("rules", rules)
    _valid("fleet", {**fleet, "rules": rules})
    assert list(_validator("fleet").iter_errors({**fleet, "rules": {**rules, "max_model_per_gpu": 3}}))
    assert list(_validator("fleet").iter_errors({**fleet, "rules": {"apart": [["only_one"]]}}))


def test_fleet_files_shown_in_the_docs_match_the_fleet_schema():
    from doc_examples import DOCS, _blocks

    shown = []
    for page in sorted(DOCS.rglob("*.md")):
        for _line, language, _info, body, _previous in _blocks(page.read_text(encoding="utf-8")):
            data = yaml.safe_load("\n".join(body)) if language == "yaml" else None
            if isinstance(data, dict) and "gpu_types" in data:
                shown.append(data)
    assert shown
    for fleet in shown:
        _valid("fleet", fleet)


def test_a_plan_of_streaming_models_with_token_targets_matches_the_plan_and_targets_schemas(tmp_path: Path):
    import sys

    sys.path.insert(0, str(REPO / "tests" / "unit"))
    from llm_support import write_llm_profile

    targets = {
        "llm_a": {"tokens_per_s": 150, "max_ttft_p99_ms": 300},
        "llm_b": {"throughput": 10, "max_itl_p99_ms": 35},
        "sleepy": 100,
    }
    _valid("targets", targets)
    assert list(_validator("targets").iter_errors({"m": {"throughput": 1, "tokens_per_s": 2}}))
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(targets))
    plan = _plan("--profiles", str(write_llm_profile(tmp_path / "profile")), "--targets", str(path))
    assert any("memory_share_mb" in m for g in plan["gpus"] for m in g["models"])
    _valid("plan", plan)
