"""Reading a written plan back, the verdict arithmetic of `gpupack validate`, and its output formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from profiler.base.errors import InputError
from profiler.measure.sampler import ResourceUse
from profiler.validation.plan_file import read_deployment
from profiler.validation.records import GpuCheck, ModelCheck, ValidationResult, is_oom
from profiler.validation.report import gpus_table, progress_line, validation_csv, validation_json

PLAN = {
    "objective": "throughput",
    "gpus": [
        {
            "index": 0,
            "memory_mb": 3800.5,
            "gpu_util_pct": 90,
            "models": [
                {"name": "a", "batch_size": 4, "concurrency": 2, "throughput": 200, "memory_mb": 2000.0},
                {"name": "b", "batch_size": 1, "concurrency": 1, "throughput": 50.5, "memory_mb": 1900.0},
            ],
        },
        {"index": 1, "models": [{"name": "a", "batch_size": 8, "concurrency": 4, "throughput": 300}]},
    ],
}


def _write(root: Path, plan: dict, models: dict[int, list[str]] | None = None) -> Path:
    for index, names in (models or {0: ["a", "b"], 1: ["a"]}).items():
        for name in names:
            (root / f"gpu{index}" / name).mkdir(parents=True)
            (root / f"gpu{index}" / name / "config.pbtxt").write_text(f'name: "{name}"\n')
    (root / "plan.json").write_text(json.dumps(plan))
    return root


def test_a_written_plan_reads_back_with_its_gpus_models_and_promises(tmp_path: Path):
    deployment = read_deployment(_write(tmp_path, PLAN))
    gpu0, gpu1 = deployment.gpus
    assert [m.name for m in gpu0.models] == ["a", "b"] and gpu0.memory_mb == 3800.5
    assert gpu0.promised_throughput == 250.5 and gpu1.memory_mb is None
    assert deployment.largest_batch("a") == 8 and deployment.largest_batch("b") == 1
    assert deployment.repository(1) == tmp_path / "gpu1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("gpus"), "expected an object with a non-empty 'gpus' list"),
        (
            lambda p: p["gpus"][0]["models"][0].pop("throughput"),
            r"gpus\[0\]\.models\[0\]: missing 'throughput'",
        ),
        (lambda p: p["gpus"][1].update(index=0), "two GPUs have the same index"),
        (
            lambda p: p["gpus"][0]["models"][1].update(batch_size=0),
            r"\(b\): batch_size and concurrency must be",
        ),
        (lambda p: p["gpus"][0]["models"][1].update(name="../x"), "'../x' is not a model name"),
        (lambda p: p["gpus"][0]["models"][1].update(concurrency="2"), "'concurrency' must be int"),
    ],
)
def test_a_plan_that_is_not_the_documented_json_is_refused_naming_the_place(tmp_path: Path, change, message):
    plan = json.loads(json.dumps(PLAN))
    change(plan)
    with pytest.raises(InputError, match=message):
        read_deployment(_write(tmp_path, plan))


def test_a_planned_model_missing_from_its_gpus_repository_is_refused(tmp_path: Path):
    with pytest.raises(InputError, match=r"GPU 1: model 'a' is not in its repository"):
        read_deployment(_write(tmp_path, PLAN, {0: ["a", "b"], 1: []}))
    with pytest.raises(InputError, match="plan.json: no such file"):
        read_deployment(tmp_path / "elsewhere")


def _gpu(index: int, *models: ModelCheck, error: str = "", memory: float | None = 3900.0) -> GpuCheck:
    use = ResourceUse(gpu_util_pct=97.0, memory_mb=memory, process_memory_mb=3300.0)
    return GpuCheck(index, f"GPU-{index}", 3800.0, models, use, reserved_memory_mb=645.0, error=error)


def test_a_model_or_gpu_falls_short_below_the_min_ratio_or_when_it_failed():
    ok = ModelCheck("a", 4, 2, 200.0, measured_throughput=190.0, p50_ms=40.0, p99_ms=45.0, stable=True)
    slow = ModelCheck("b", 1, 1, 50.0, measured_throughput=40.0)
    failed = ModelCheck("c", 1, 1, 50.0, failed_requests=1, error="inference failed: CUDA out of memory")
    assert ok.ratio == 0.95 and not ok.short(0.9) and slow.ratio == 0.8 and slow.short(0.9)
    assert failed.ratio == 0.0 and failed.short(0.1)
    assert not _gpu(0, ok).short(0.9) and _gpu(0, ok, slow).short(0.9)
    assert _gpu(0, ok, slow).ratio == pytest.approx(230 / 250)  # the total alone would pass
    broken = _gpu(1, failed)
    assert broken.short(0.9) and broken.oom and not broken.load_failure
    down = _gpu(2, ModelCheck("d", 1, 1, 10.0, error="server did not start"), error="failed to load 'd'")
    assert down.load_failure and down.measured_throughput == 0
    assert _gpu(0, ok).memory_ratio == pytest.approx(3900 / 3800)
    assert ModelCheck("free", 1, 1, 0.0, measured_throughput=5.0).ratio is None  # nothing promised


@pytest.mark.parametrize(
    "message",
    ["CUDA out of memory. Tried to allocate 2.00 GiB", "CUDA_ERROR_OUT_OF_MEMORY", "torch.OutOfMemoryError"],
)
def test_out_of_memory_is_recognized_in_the_usual_wordings(message: str):
    assert is_oom(message) and not is_oom("failed to load 'x': no such file")


def _result() -> ValidationResult:
    ok = ModelCheck("a", 4, 2, 200.0, measured_throughput=190.0, p50_ms=40.0, p99_ms=45.0, stable=True)
    slow = ModelCheck("b", 1, 1, 50.0, measured_throughput=40.0, p50_ms=20.0, p99_ms=25.0)
    return ValidationResult(
        "plan", 0.9, (_gpu(0, ok), _gpu(1, slow)), "one at a time on GPU 0", "gpu", "H200"
    )


def test_validation_json_has_the_documented_keys_and_the_verdict():
    data = json.loads(validation_json(_result()))
    assert data["holds"] is False and data["short_gpus"] == [1] and data["interrupted"] is False
    gpu = data["gpus"][0]
    assert gpu["index"] == 0 and gpu["ratio"] == 0.95 and gpu["short"] is False
    assert (gpu["peak_memory_mb"], gpu["planned_memory_mb"], gpu["reserved_memory_mb"]) == (
        3900.0,
        3800.0,
        645.0,
    )
    assert gpu["peak_process_memory_mb"] == 3300.0 and gpu["max_gpu_utilization_pct"] == 97.0
    model = gpu["models"][0]
    assert {k: model[k] for k in ("name", "batch_size", "concurrency", "promised_throughput")} == {
        "name": "a", "batch_size": 4, "concurrency": 2, "promised_throughput": 200.0,
    }  # fmt: skip
    assert (model["measured_throughput"], model["ratio"], model["p50_ms"], model["p99_ms"]) == (
        190,
        0.95,
        40,
        45,
    )
    assert data["gpus"][1]["models"][0]["short"] is True


def test_validation_csv_has_a_row_per_model_with_its_gpus_columns():
    rows = list(csv.DictReader(io.StringIO(validation_csv(_result()))))
    assert [(r["gpu"], r["name"], r["ratio"], r["short"]) for r in rows] == [
        ("0", "a", "0.95", "false"),
        ("1", "b", "0.8", "true"),
    ]
    assert rows[0]["gpu_peak_memory_mb"] == "3900.0" and rows[1]["gpu_short"] == "true"


def test_tables_and_progress_say_which_gpu_falls_short():
    table = gpus_table(_result())
    assert "PEAK MEMORY (MB)" in table and "SERVER CPU (%)" not in table  # never measured: left out
    assert table.splitlines()[-1].rstrip().endswith("SHORT")
    line = progress_line(
        1, 2, (_gpu(0, ModelCheck("a", 4, 2, 200.0, measured_throughput=190.0)),), 12.0, 12.0
    )
    assert line == "[1/2] GPU 0: 190.0 of 200.0 infer/s promised (0.95) | elapsed 0:12, ETA 0:12"


def test_validate_refuses_a_directory_without_a_plan_with_one_line_and_exit_2(tmp_path: Path):
    from click.testing import CliRunner

    from cli import cli

    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'plan.json'}: no such file",
        f"To fix: pass the directory written by `gpupack plan --write-repositories {tmp_path}`",
    ]
    assert not (tmp_path / "validation.json").exists()
