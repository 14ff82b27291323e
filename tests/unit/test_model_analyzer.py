"""Model Analyzer 1.x output read directly: every real file in tests/data/model-analyzer loads and plans.

The files are Model Analyzer's own test data and experiment checkpoints (README.md there).
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from packer.check import check_plan
from packer.inputs import DEFAULT_TYPE, GpuType
from packer.planner import plan
from packer.problem import build_problem
from packer.resources import GPU_UTIL, MEM_UTIL
from packer.rules import Rules
from packer.settings import Goal, Objective, SolverSettings, Thresholds
from profiler import InputError, read_profile

DATA = Path(__file__).resolve().parents[1] / "data" / "model-analyzer"
EXAMPLES = Path(__file__).resolve().parents[2] / "profiler" / "examples"
SINGLE, MULTI, RATE = DATA / "single-model-ckpt", DATA / "multi-model-ckpt", DATA / "request-rate-ckpt"
SWEEPS = (DATA / "experiments-resnet50_libtorch", DATA / "experiments-vgg19_libtorch")
EXPORTS = (SINGLE, MULTI, RATE)
INFERENCE = "golden-metrics-model-inference.csv"
GPU_CSV = "golden-metrics-model-gpu.csv"
SERVER_CSV = "golden-metrics-server-only.csv"
# Every real file: each of an export's three files reads the whole export.
REAL_FILES = [
    *(d / "0.ckpt" for d in (*EXPORTS, *SWEEPS)),
    *(d / name for d in EXPORTS for name in (INFERENCE, GPU_CSV, SERVER_CSV)),
]
FAST = SolverSettings(max_time_in_seconds=20, num_workers=2)


def _max_batch(config) -> int:
    """A stored config is protobuf JSON, in either field naming."""
    return config.get("max_batch_size", config.get("maxBatchSize"))


def _plan(profile, objective: Objective, choose: bool = True, memory: float | None = None):
    gpu = GpuType(DEFAULT_TYPE, memory or profile.metadata.gpu_memory_mb or 24000.0, profile)
    problem = build_problem((gpu,), Goal.MIN_GPUS, objective, Thresholds(), choose_points=choose)
    result = plan(problem, FAST)
    assert check_plan(problem, result) == []
    return problem, result


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_model_analyzer_file_loads_and_plans_for_both_objectives(path: Path):
    profile = read_profile(path)
    assert profile.points and all(p.ok for p in profile.points)
    assert all(p.mem_util_pct is None for p in profile.points)  # Model Analyzer 1.x has none
    for objective in Objective:
        problem, result = _plan(profile, objective)
        assert result.gpu_count == 1 and result.optimal
        placed = {p.model for g in result.gpus for p in g.points}
        assert placed == set(profile.models())
        if objective is Objective.THROUGHPUT:
            assert GPU_UTIL in problem.resources and MEM_UTIL not in problem.resources
            assert any("memory-controller utilization is not measured" in n for n in result.notes)
            assert all(g.mem_util_pct is None for g in result.gpus)


def test_directories_read_the_latest_checkpoint_and_export_files_read_their_siblings(tmp_path: Path):
    run = tmp_path / "ma-output"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(SINGLE / "0.ckpt", run / "checkpoints" / "0.ckpt")
    shutil.copy(RATE / "0.ckpt", run / "checkpoints" / "1.ckpt")
    assert read_profile(run).source.endswith("1.ckpt")
    assert read_profile(SINGLE).source.endswith("0.ckpt")  # a checkpoint beside the CSVs wins
    by_gpu_file = read_profile(SINGLE / GPU_CSV)
    assert by_gpu_file.source.endswith(INFERENCE)
    assert by_gpu_file.server.memory_mb == 870.0


def test_config_variants_are_separate_points_with_their_instance_counts():
    profile = read_profile(SINGLE / "0.ckpt")
    variants = {p.variant for p in profile.points}
    assert variants == {f"add_sub_config_{k}" for k in ("default", 0, 1, 2, 3)}
    assert len({p.key for p in profile.points}) == len(profile.points) == 16
    assert {p.instance_count for p in profile.points if p.variant == "add_sub_config_3"} == {2}
    assert profile.metadata.gpu_memory_mb == pytest.approx(25387.401216)
    assert profile.metadata.gpu_name == "NVIDIA TITAN RTX"
    assert _max_batch(profile.variant_configs["add_sub", "add_sub_config_1"]) == 2


def test_export_and_checkpoint_of_one_run_agree_point_by_point():
    csv = {(p.variant, p.batch_size, p.concurrency): p for p in read_profile(SINGLE / INFERENCE).points}
    ckpt = {(p.variant, p.batch_size, p.concurrency): p for p in read_profile(SINGLE / "0.ckpt").points}
    assert csv.keys() == ckpt.keys()
    for key, p in csv.items():
        assert p.throughput == pytest.approx(ckpt[key].throughput, abs=0.06)
        assert p.memory_mb == pytest.approx(ckpt[key].memory_mb, abs=0.06)
        assert p.gpu_util_pct == pytest.approx(ckpt[key].gpu_util_pct, abs=0.06)
        assert p.latency_p99_ms == pytest.approx(ckpt[key].latency_p99_ms, abs=0.06)


def test_request_rate_points_keep_their_rate_and_no_concurrency():
    for path in (RATE / "0.ckpt", RATE / INFERENCE):
        points = read_profile(path).points
        assert len(points) == 34
        assert {p.request_rate for p in points} == {16.0, 32.0}
        assert {p.concurrency for p in points} == {0}


def test_models_measured_only_together_plan_as_one_unit_and_are_kept_as_colocations():
    for path in (MULTI / "0.ckpt", MULTI / INFERENCE):
        profile = read_profile(path)
        assert len(profile.colocations) == 12
        assert profile.models() == ("resnet50_libtorch+vgg19_libtorch",)
        assert all(c.models == ("resnet50_libtorch", "vgg19_libtorch") for c in profile.colocations)
        assert any("measured only together (12 co-location measurements)" in n for n in profile.notes)
        _, result = _plan(profile, Objective.MIN_GPUS, memory=24000)
        chosen = result.gpus[0].points[0]
        # The fastest pairing measured: resnet50 config_5 + vgg19 config_4 at concurrency 4 each.
        assert chosen.variant == "resnet50_libtorch_config_5+vgg19_libtorch_config_4"
        assert chosen.throughput == pytest.approx(max(p.throughput for p in profile.points))


def _best_pair(profile, capacity: float, utilization: bool) -> float:
    """Brute force over every pair of measured points: the most throughput on one GPU."""
    server = profile.server
    by_model = [profile.points_for(m) for m in profile.models()]
    best = 0.0
    for a, b in itertools.product(*by_model):
        memory = server.memory_mb + (a.memory_mb - server.memory_mb) + (b.memory_mb - server.memory_mb)
        util = server.gpu_util_pct + sum(max(0.0, p.gpu_util_pct - server.gpu_util_pct) for p in (a, b))
        if memory <= capacity and (not utilization or util <= 100):
            best = max(best, a.throughput + b.throughput)
    return best


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda p: p.name)
def test_brute_force_sweeps_choose_the_variant_the_data_say_is_fastest(sweep: Path):
    profile = read_profile(sweep)
    assert profile.models() == ("resnet50_libtorch", "vgg19_libtorch")
    assert [len(profile.points_for(m)) for m in profile.models()] == [506, 506]
    capacity = profile.metadata.gpu_memory_mb
    fastest = {m: max(p.throughput for p in profile.points_for(m)) for m in profile.models()}
    for objective in Objective:
        _, result = _plan(profile, objective)
        (gpu,) = result.gpus
        chosen = {p.model: p for p in gpu.points}
        # One GPU holds both at their fastest measured variants: nothing the data hold is faster.
        assert {m: p.throughput for m, p in chosen.items()} == fastest
        assert gpu.throughput == pytest.approx(
            _best_pair(profile, capacity, objective is Objective.THROUGHPUT)
        )
    assert fastest == {"resnet50_libtorch": 321.0, "vgg19_libtorch": 227.0}


def test_without_choose_points_the_fastest_variant_is_used_and_variants_no_longer_collide():
    profile = read_profile(SINGLE / "0.ckpt")
    _, result = _plan(profile, Objective.THROUGHPUT, choose=False)
    (point,) = result.gpus[0].points
    assert (point.variant, point.batch_size, point.concurrency) == ("add_sub_config_default", 2, 2)
    assert point.throughput == max(p.throughput for p in profile.points)


def test_plan_cli_reads_model_analyzer_output_and_notes_what_it_lacks():
    result = CliRunner().invoke(
        cli, ["plan", "--profiles", str(SINGLE), "--objective", "throughput", "--choose-points", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["gpu_count"] == 1 and data["gpus"][0]["mem_util_pct"] is None
    assert data["gpus"][0]["models"][0]["variant"] == "add_sub_config_default"
    assert any("memory-controller utilization is not measured" in n for n in data["notes"])


def test_plan_cli_asks_for_the_gpu_memory_an_export_does_not_hold():
    result = CliRunner().invoke(cli, ["plan", "--profiles", str(SINGLE / INFERENCE)])
    assert result.exit_code == 2
    assert "does not say how much memory the GPU has" in result.output and "--gpu-memory" in result.output


def _source_repository(root: Path, models: list[str]) -> Path:
    for model in models:
        (root / model / "1").mkdir(parents=True)
        (root / model / "1" / "model.pt").write_text("weights")
        (root / model / "config.pbtxt").write_text(f'name: "{model}"\nmax_batch_size: 64\n')
    return root


def test_repositories_deploy_the_chosen_variants_config_from_the_checkpoint(tmp_path: Path):
    source = _source_repository(tmp_path / "src", ["add_sub"])
    out = tmp_path / "out"
    args = ["plan", "--profiles", str(SINGLE / "0.ckpt"), "--choose-points", "--batch", "1"]
    result = CliRunner().invoke(
        cli, [*args, "--model-repository", str(source), "--write-repositories", str(out)]
    )
    assert result.exit_code == 0, result.output
    chosen = json.loads((out / "plan.json").read_text())["gpus"][0]["models"][0]
    config = (out / "gpu0" / "add_sub" / "config.pbtxt").read_text()
    expected = _max_batch(read_profile(SINGLE / "0.ckpt").variant_configs["add_sub", chosen["variant"]])
    assert f"max_batch_size: {expected}" in config
    assert "max_batch_size: 64" not in config
    assert f"config variant {chosen['variant']}" in config.splitlines()[0]
    assert (out / "gpu0" / "add_sub" / "1" / "model.pt").read_text() == "weights"


def test_repositories_deploy_each_member_of_a_group_point_in_its_variant(tmp_path: Path):
    source = _source_repository(tmp_path / "src", ["resnet50_libtorch", "vgg19_libtorch"])
    out = tmp_path / "out"
    args = ["plan", "--profiles", str(MULTI / "0.ckpt"), "--model-repository", str(source)]
    result = CliRunner().invoke(cli, [*args, "--write-repositories", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "gpu0").iterdir()) == ["resnet50_libtorch", "vgg19_libtorch"]
    configs = read_profile(MULTI / "0.ckpt").variant_configs
    resnet = (out / "gpu0" / "resnet50_libtorch" / "config.pbtxt").read_text()
    assert (
        f"max_batch_size: {_max_batch(configs['resnet50_libtorch', 'resnet50_libtorch_config_5'])}" in resnet
    )
    assert 'name: "resnet50_libtorch"' in resnet


def test_an_export_without_configs_takes_the_variant_from_model_analyzers_output_repository(tmp_path: Path):
    source = _source_repository(tmp_path / "src", ["add_sub"])
    (source / "add_sub_config_default").mkdir()
    (source / "add_sub_config_default" / "config.pbtxt").write_text(
        'name: "add_sub_config_default"\nmax_batch_size: 8\n'
    )
    out = tmp_path / "out"
    args = [
        "plan",
        "--profiles",
        str(SINGLE / INFERENCE),
        "--gpu-memory",
        "24GiB",
        "--model-repository",
        str(source),
    ]
    result = CliRunner().invoke(cli, [*args, "--write-repositories", str(out)])
    assert result.exit_code == 0, result.output
    config = (out / "gpu0" / "add_sub" / "config.pbtxt").read_text()
    assert "max_batch_size: 8" in config and 'name: "add_sub"' in config


def test_not_a_checkpoint_is_refused_with_what_it_is_not(tmp_path: Path):
    bad = tmp_path / "0.ckpt"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not a Model Analyzer checkpoint"):
        read_profile(bad)
    bad.write_text('{"other": 1}')
    with pytest.raises(InputError, match="no 'ResultManager.results'"):
        read_profile(bad)


def test_a_run_measured_on_two_gpus_is_refused(tmp_path: Path):
    export = tmp_path / "results"
    export.mkdir()
    for name in (INFERENCE, SERVER_CSV):
        shutil.copy(SINGLE / name, export / name)
    lines = (SINGLE / GPU_CSV).read_text().splitlines()
    (export / GPU_CSV).write_text("\n".join([*lines, lines[1].replace("GPU-8557", "GPU-9999")]) + "\n")
    with pytest.raises(InputError, match="measured on 2 GPUs at once"):
        read_profile(export / INFERENCE)


def test_a_missing_model_analyzer_column_is_named(tmp_path: Path):
    path = tmp_path / "metrics-model-inference.csv"
    path.write_text("Model,Batch,Concurrency,Model Config Path\nm,1,1,m_config_0\n")
    with pytest.raises(InputError, match="missing Model Analyzer column 'Throughput \\(infer/sec\\)'"):
        read_profile(path)


def _without_memory_controller(source: Path, target: Path) -> Path:
    target.mkdir()
    for name in ("profile.csv", "server-only.csv", "metadata.json"):
        text = (source / name).read_text()
        if name.endswith(".csv"):
            import csv
            import io

            rows = list(csv.DictReader(io.StringIO(text)))
            columns = [c for c in rows[0] if c != "max_memory_utilization_pct"]
            out = io.StringIO()
            writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            text = out.getvalue()
        (target / name).write_text(text)
    return target


def test_a_fleet_type_whose_profile_lacks_a_utilization_is_not_packed_on_it(tmp_path: Path):
    small = Path(__file__).resolve().parents[2] / "examples" / "profiles" / "small-16gb"
    lacking = read_profile(_without_memory_controller(small, tmp_path / "lacking"))
    measured = read_profile(small)
    types = (GpuType("measured", 16000, measured, count=3), GpuType("lacking", 16000, lacking, count=20))
    # Unconstrained on memory-controller utilization, the lacking type is the easier: pin one model.
    rules = Rules(pins=(("segmentation_mri_brain_tumor", "measured"),))
    problem = build_problem(types, Goal.MIN_GPUS, Objective.THROUGHPUT, Thresholds(), rules=rules)
    assert MEM_UTIL in problem.resources
    assert problem.packs(0, MEM_UTIL) and not problem.packs(1, MEM_UTIL)
    assert any("not packed on GPU type lacking" in n for n in problem.notes)
    result = plan(problem, FAST)
    assert check_plan(problem, result) == []
    assert {g.gpu_type for g in result.gpus} == {"measured", "lacking"}
    for gpu in result.gpus:
        assert (gpu.mem_util_pct is None) == (gpu.gpu_type == "lacking")
        if gpu.gpu_type == "measured":
            assert gpu.mem_util_pct <= 100 + 1e-9


def test_variant_and_request_rate_survive_gpupack_s_own_format(tmp_path: Path):
    from profiler.profiles.profile_io import write_profile

    profile = read_profile(RATE / "0.ckpt")
    write_profile(profile, tmp_path / "converted")
    back = read_profile(tmp_path / "converted")
    assert [p.key for p in back.points] == [p.key for p in profile.points]
    assert {p.request_rate for p in back.points} == {16.0, 32.0}


def test_a_server_only_file_without_its_inference_file_says_what_is_needed(tmp_path: Path):
    shutil.copy(SINGLE / SERVER_CSV, tmp_path / SERVER_CSV)
    with pytest.raises(InputError, match="a Model Analyzer export is read from its metrics-model-inference"):
        read_profile(tmp_path / SERVER_CSV)


# Real CPU-only runs of Model Analyzer 1.58 made here (README.md there): with and without RAM.
CPU, CPU_NO_RAM = DATA / "cpu-only", DATA / "cpu-only-no-ram"
CPU_CKPT, CPU_CSV = CPU / "checkpoints" / "0.ckpt", CPU / "results" / "metrics-model-inference.csv"


def _checkpoint_readings(path: Path) -> dict[tuple[str, int], dict[str, float]]:
    """(variant, concurrency) → the measurement's non-GPU readings, read from the JSON directly."""
    data = json.loads(path.read_text())
    out = {}
    for variants in data["ResultManager.results"]["_results"].values():
        for name, (_, runs) in variants.items():
            for run in runs.values():
                (part,) = run["_model_config_measurements"]
                values = {tag: record["_value"] for tag, record in part["_non_gpu_data"]}
                out[name, part["_model_specific_pa_params"]["concurrency-range"]] = values
    return out


def test_a_cpu_only_checkpoint_is_read_as_host_ram_from_cpu_used_ram():
    profile = read_profile(CPU)
    assert profile.source == str(CPU_CKPT)
    assert profile.metadata.device == "cpu" and profile.metadata.gpu_memory_mb is None
    readings = _checkpoint_readings(CPU_CKPT)
    assert len(profile.points) == len(readings) == 9
    for p in profile.points:
        values = readings[p.variant, p.concurrency]
        assert p.host_memory_mb == values["cpu_used_ram"]
        assert p.throughput == values["perf_throughput"]
        assert p.latency_p99_ms == values["perf_latency_p99"]
        assert p.memory_mb is None and p.gpu_util_pct is None
    # The recorded run: 38 MB for every variant (the tritonserver process alone; README.md).
    assert {p.host_memory_mb for p in profile.points} == {38.0}
    settings = {(p.variant, p.instance_count, p.dynamic_batching, p.max_queue_delay_us, p.max_batch_size)
                for p in profile.points}  # fmt: skip
    assert settings == {
        ("batched_sleeper_config_default", 1, False, None, 4),
        ("batched_sleeper_config_0", 1, True, 0, 4),
        ("batched_sleeper_config_1", 2, True, 0, 4),
    }
    (note,) = profile.notes
    assert "a CPU-only run" in note and "memory is host RAM, Model Analyzer's cpu_used_ram" in note


def test_a_cpu_only_export_reads_the_ram_column_and_agrees_with_its_checkpoint():
    import csv

    rows = list(csv.DictReader(CPU_CSV.open()))
    profile = read_profile(CPU / "results")
    assert profile.source == str(CPU_CSV) and profile.metadata.device == "cpu"
    by_key = {(p.variant, p.concurrency): p for p in profile.points}
    assert len(by_key) == len(rows) == 9
    for row in rows:
        p = by_key[row["Model Config Path"], int(row["Concurrency"])]
        assert p.host_memory_mb == float(row["RAM Usage (MB)"]) and p.memory_mb is None
        assert p.throughput == float(row["Throughput (infer/sec)"])
        assert p.instance_count == int(row["Instance Group"].split(":")[0])
        assert p.max_batch_size == int(row["Max Batch Size"]) and p.dynamic_batching is None
    ckpt = {(p.variant, p.concurrency): p for p in read_profile(CPU_CKPT).points}
    for key, p in by_key.items():
        assert p.throughput == pytest.approx(ckpt[key].throughput, abs=0.06)
        assert p.host_memory_mb == ckpt[key].host_memory_mb
    assert any("memory is host RAM" in n for n in profile.notes)
    assert not any("beside it" in n for n in profile.notes)  # no GPU file is expected of a CPU-only run


def test_plan_cli_plans_a_cpu_only_run_on_host_ram_and_says_so(tmp_path: Path):
    args = ["plan", "--profiles", str(CPU), "--gpu-memory", "100MB", "--choose-points"]
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "HOST MEMORY (MB, with server)" in table.output and "host memory ≤ 100 %" in table.output
    assert "batched_sleeper (config_1 b1 c4 i2 dyn0us)" in table.output
    notes = [line for line in table.output.splitlines() if "cpu_used_ram" in line]
    assert len(notes) == 1 and notes[0].startswith(f"note: {CPU_CKPT}: a CPU-only run")
    out = tmp_path / "plan"
    source = ["--model-repository", str(EXAMPLES), "--write-repositories", str(out)]
    result = CliRunner().invoke(cli, [*args, "--objective", "throughput", "--json", *source])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["limits_pct"] == {"host memory": 100.0}
    assert any("memory is host RAM, Model Analyzer's cpu_used_ram" in n for n in data["notes"])
    (gpu,) = data["gpus"]
    (chosen,) = gpu["models"]
    # The fastest measured point: 2 instances, dynamic batching, concurrency 4 (38 MB of 100 MB).
    fastest = max(read_profile(CPU).points, key=lambda p: p.throughput)
    assert (
        (chosen["variant"], chosen["concurrency"], chosen["throughput"])
        == (
            fastest.variant,
            fastest.concurrency,
            fastest.throughput,
        )
        == ("batched_sleeper_config_1", 4, 127.942)
    )
    assert (chosen["instance_count"], chosen["dynamic_batching"], chosen["max_batch_size"]) == (2, True, 4)
    assert gpu["memory_mb"] == 38.0
    # Deployed as measured: the variant's config under the model's own name, its CPU instances.
    config = (out / "gpu0" / "batched_sleeper" / "config.pbtxt").read_text()
    assert 'name: "batched_sleeper"' in config and "dynamic_batching" in config
    assert "count: 2" in config and "kind: KIND_CPU" in config


def test_plan_cli_refuses_a_cpu_only_run_without_ram_in_one_line():
    for path in (CPU_NO_RAM, CPU_NO_RAM / "results" / "metrics-model-inference.csv"):
        result = CliRunner().invoke(cli, ["plan", "--profiles", str(path), "--gpu-memory", "1GB"])
        assert result.exit_code == 2 and "Traceback" not in result.output
        error, fix = result.output.splitlines()
        assert error.startswith("error: ") and "CPU-only Model Analyzer run" in error
        assert "without RAM in 9 of 9 measurements" in error
        assert "metrics-model-inference.csv" in error if path.suffix else "0.ckpt" in error
        assert fix.startswith("To fix: profile with collect_cpu_metrics: true")


def test_an_export_whose_gpu_file_is_missing_stays_a_gpu_profile(tmp_path: Path):
    shutil.copy(SINGLE / INFERENCE, tmp_path / INFERENCE)  # GPU instance groups, no RAM column
    profile = read_profile(tmp_path / INFERENCE)
    assert profile.metadata.device == "gpu"
    assert any(f"no {GPU_CSV} beside it" in n for n in profile.notes)


def test_gpu_memory_for_some_measurements_and_only_ram_for_others_is_refused(tmp_path: Path):
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO((SINGLE / INFERENCE).read_text())))
    text = io.StringIO()
    writer = csv.DictWriter(text, [*rows[0], "RAM Usage (MB)"], lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, "RAM Usage (MB)": "900.0"} for r in rows)
    (tmp_path / INFERENCE).write_text(text.getvalue())
    gpu_lines = (SINGLE / GPU_CSV).read_text().splitlines()
    (tmp_path / GPU_CSV).write_text("\n".join(gpu_lines[:1] + gpu_lines[2:]) + "\n")  # one row's GPU gone
    with pytest.raises(InputError, match="15 measurements record GPU memory and 1 only host RAM"):
        read_profile(tmp_path / INFERENCE)
    # The checkpoint: a GPU run in which one measurement has no GPU data but RAM.
    data = json.loads(CPU_CKPT.read_text())
    data["MetricsManager.gpus"] = {"GPU-1": {"name": "GPU", "total_memory": 16e9}}
    runs = [
        run
        for v in data["ResultManager.results"]["_results"].values()
        for _, r in v.values()
        for run in r.values()
    ]
    for run in runs[1:]:
        run["_avg_gpu_data"] = [["gpu_used_memory", {"_value": 500.0, "_timestamp": 0}]]
        run["_gpu_data"] = {"GPU-1": run["_avg_gpu_data"]}
    (tmp_path / "1.ckpt").write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["plan", "--profiles", str(tmp_path / "1.ckpt")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (
        "8 measurements record GPU memory and 1 only host RAM (model 'batched_sleeper' first)"
        in result.output
    )


def test_a_gpu_checkpoint_s_variants_carry_their_batching_settings():
    profile = read_profile(SINGLE / "0.ckpt")
    for p in profile.points:
        config = profile.variant_configs["add_sub", p.variant]
        assert p.max_batch_size == _max_batch(config)
        assert p.dynamic_batching == ("dynamicBatching" in config)
        assert p.max_queue_delay_us == (0 if p.dynamic_batching else None)
    assert {p.variant for p in profile.points if p.dynamic_batching} == {
        f"add_sub_config_{k}" for k in range(4)
    }


def test_a_cpu_only_export_deploys_the_variant_from_model_analyzers_output_repository(tmp_path: Path):
    source = tmp_path / "src"
    shutil.copytree(EXAMPLES / "batched_sleeper", source / "batched_sleeper")
    shutil.copytree(CPU / "models", source, dirs_exist_ok=True)  # Model Analyzer's variants' configs
    out = tmp_path / "out"
    args = ["plan", "--profiles", str(CPU_CSV), "--gpu-memory", "100MB", "--choose-points"]
    result = CliRunner().invoke(
        cli, [*args, "--model-repository", str(source), "--write-repositories", str(out)]
    )
    assert result.exit_code == 0, result.output
    chosen = json.loads((out / "plan.json").read_text())["gpus"][0]["models"][0]
    assert (chosen["variant"], chosen["instance_count"], chosen["max_batch_size"]) == (
        "batched_sleeper_config_1",
        2,
        4,
    )
    config = (out / "gpu0" / "batched_sleeper" / "config.pbtxt").read_text()
    assert 'name: "batched_sleeper"' in config and "count: 2" in config and "dynamic_batching" in config


def test_a_cpu_only_profile_survives_gpupack_s_own_format(tmp_path: Path):
    from profiler.profiles.profile_io import write_profile

    profile = read_profile(CPU)
    write_profile(profile, tmp_path / "converted")
    back = read_profile(tmp_path / "converted")
    assert back.metadata.device == "cpu"
    assert back.points == profile.points  # host memory, instances, batching settings
