"""`gpupack plan` through click's CliRunner: outputs, JSON contract, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli

PLAN_KEYS = {
    "objective",
    "gpu_count",
    "lower_bound",
    "optimal",
    "solve_seconds",
    "gpu_memory_mb",
    "server_memory_mb",
    "gpus",
}
GPU_KEYS = {"index", "memory_mb", "gpu_util_pct", "mem_util_pct", "models"}
MODEL_KEYS = {"name", "batch_size", "concurrency", "throughput", "memory_mb", "gpu_util_pct", "mem_util_pct"}


def run(*args: str):
    return CliRunner().invoke(cli, ["plan", *args])


def test_plan_with_no_input_plans_the_builtin_fleet_on_four_gpus():
    result = run("--objective", "min-gpus")
    assert result.exit_code == 0, result.output
    assert "4 GPUs, lower bound 4: optimal" in result.output
    assert "MEMORY (MB, with server)" in result.output
    assert "classification_chest" in result.output


def test_plan_json_follows_the_public_contract():
    # The blog's Table 4: summed utilization alone (the co-location model: tests/unit/test_colocation.py).
    result = run("--objective", "throughput", "--no-colocation", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert PLAN_KEYS <= data.keys()
    assert data["objective"] == "throughput"
    assert data["gpu_count"] == 6 and data["lower_bound"] == 6 and data["optimal"] is True
    assert data["gpu_memory_mb"] == 16000 and data["server_memory_mb"] == 309
    for gpu in data["gpus"]:
        assert GPU_KEYS <= gpu.keys()
        for model in gpu["models"]:
            assert MODEL_KEYS <= model.keys()
    assert sorted(m["name"] for g in data["gpus"] for m in g["models"])[0] == "classification_breast"


def test_plan_output_file_matches_printed_json(tmp_path: Path):
    out = tmp_path / "plans" / "plan.json"
    # The blog's "never more than 80 %" rule, by summed utilization alone.
    printed = run(
        "--objective",
        "throughput",
        "--no-colocation",
        "--max-gpu-util",
        "80",
        "--max-mem-util",
        "80",
        "--max-memory",
        "80",
        "--json",
        "--output",
        str(out),
    )
    assert printed.exit_code == 0, printed.output
    assert json.loads(out.read_text())["gpu_count"] == 8
    assert json.loads(printed.output)["gpus"] == json.loads(out.read_text())["gpus"]


@pytest.mark.parametrize("size", ["16GB", "16000MB", "16000", "16 GB", "0.016TB"])
def test_gpu_memory_accepts_decimal_units(size):
    result = run("--gpu-memory", size, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["gpu_memory_mb"] == pytest.approx(16000)


def test_gpu_memory_accepts_binary_units():
    result = run("--gpu-memory", "80GiB", "--json")
    data = json.loads(result.output)
    assert data["gpu_memory_mb"] == pytest.approx(85899.345920)
    assert data["gpu_count"] == 1


def test_model_analyzer_export_is_accepted(tmp_path: Path, seed_dir: Path):
    header = (
        "Model,Batch,Concurrency,Throughput,MaxMemoryUtil(%),MaxGpuUtil(%),_MaxBar1(MB),MaxFramebuffer(MB)\n"
    )
    rows = (seed_dir / "profile.csv").read_text().splitlines()[1:]
    body = "".join(
        f"{m},{b},{c},{t},{mu},{gu},0,{mem}\n" for m, b, c, t, mu, gu, mem in (r.split(",") for r in rows)
    )
    (tmp_path / "metrics-model.csv").write_text(header + body)
    (tmp_path / "metrics-server-only.csv").write_text(header + "triton-server,1,1,0,0,0,0,309\n")
    result = run(
        "--profiles",
        str(tmp_path),
        "--gpu-memory",
        "16GB",
        "--objective",
        "throughput",
        "--no-colocation",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["gpu_count"] == 6


def assert_refused(result, *fragments: str, code: int = 2):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output
    return result


def test_missing_profile_file_is_refused():
    assert_refused(run("--profiles", "/nonexistent/profile.csv"), "no such file or directory")


def test_missing_column_is_refused(tmp_path: Path):
    (tmp_path / "profile.csv").write_text("model,batch_size,concurrency\na,1,1\n")
    assert_refused(
        run("--profiles", str(tmp_path), "--gpu-memory", "16GB"), "missing column 'throughput_infer_per_sec'"
    )


def test_non_numeric_and_negative_values_are_refused(seed_dir: Path):
    csv = seed_dir / "profile.csv"
    text = csv.read_text()
    csv.write_text(text.replace("1381.6", "fast"))
    assert_refused(
        run("--profiles", str(seed_dir)), "classification_breast", "throughput_infer_per_sec", "fast"
    )
    csv.write_text(text.replace(",5035", ",-5035"))
    assert_refused(run("--profiles", str(seed_dir)), "classification_chest", "expected a number within 0-")


def test_model_larger_than_the_gpu_is_refused_by_name_and_resource():
    assert_refused(run("--gpu-memory", "10GB"), "segmentation_liver", "GPU memory", "11051 MB")


def test_thresholds_that_leave_a_model_nowhere_to_go_are_refused():
    assert_refused(
        run("--objective", "throughput", "--max-gpu-util", "70"),
        "segmentation_ct_pancreas",
        "GPU utilization",
    )


def test_duplicate_rows_without_a_choice_are_refused(seed_dir: Path):
    csv = seed_dir / "profile.csv"
    csv.write_text(csv.read_text() + "classification_chest,2,4,170,11,56,5035\n")
    result = assert_refused(run("--profiles", str(seed_dir)), "classification_chest", "duplicate rows")
    assert "selected=true" in result.output


def test_duplicate_rows_with_one_marked_selected_are_accepted(seed_dir: Path):
    csv = seed_dir / "profile.csv"
    lines = csv.read_text().splitlines()
    lines[0] += ",selected"
    lines = (
        [lines[0]]
        + [line + ",false" for line in lines[1:]]
        + ["classification_chest,2,4,170,11,56,5035,true"]
    )
    csv.write_text("\n".join(lines) + "\n")
    result = run("--profiles", str(seed_dir), "--json")
    assert result.exit_code == 0, result.output
    chest = [
        m
        for g in json.loads(result.output)["gpus"]
        for m in g["models"]
        if m["name"] == "classification_chest"
    ]
    assert chest[0]["throughput"] == 170


def test_batch_and_concurrency_pick_the_point_or_fail_clearly():
    assert run("--batch", "2", "--concurrency", "4").exit_code == 0
    assert_refused(run("--batch", "8"), "has no profiled point at batch 8")


def test_bad_option_values_exit_2_without_traceback():
    assert_refused(run("--gpu-memory", "16XB"), "not a memory size")
    assert_refused(run("--max-memory", "0"), "above 0")
    assert_refused(run("--max-gpu-util", "80"), "apply to --objective throughput only")
    assert_refused(run("--write-repositories", "/tmp/x"), "go together")


def test_unknown_model_in_model_repository_writes_nothing(tmp_path: Path):
    repo = tmp_path / "models"
    (repo / "classification_chest").mkdir(parents=True)
    (repo / "classification_chest" / "config.pbtxt").write_text('name: "classification_chest"\n')
    out = tmp_path / "out"
    result = run(
        "--model-repository",
        str(repo),
        "--write-repositories",
        str(out),
        "--output",
        str(tmp_path / "p.json"),
    )
    assert_refused(result, "is not in --model-repository")
    assert not out.exists()
    assert not (tmp_path / "p.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["models"]


def test_debug_shows_the_traceback():
    result = CliRunner().invoke(cli, ["--debug", "plan", "--gpu-memory", "10GB"])
    assert result.exit_code != 0
    assert result.exception is not None


def test_options_can_come_from_gpupack_environment_variables():
    result = CliRunner().invoke(
        cli, ["plan", "--json"], auto_envvar_prefix="GPUPACK", env={"GPUPACK_PLAN_GPU_MEMORY": "80GiB"}
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["gpu_count"] == 1


def test_the_builtin_min_gpus_plan_says_ffd_as_the_readme_does():
    data = json.loads(run("--objective", "min-gpus", "--json").output)
    assert (data["solver_status"], data["optimal"], data["gpu_count"], data["lower_bound"]) == (
        "FFD",
        True,
        4,
        4,
    )
