"""Per-GPU model repositories: copies, protobuf-rewritten instance groups, launch scripts, atomicity."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from cli import cli
from packer.deploy.configs import check_model_name, rewrite_config
from packer.service import BUILTIN_PROFILE
from profiler.base.errors import InputError
from profiler.profiles.profile_io import read_profile

CONFIGS = {
    # several GPU groups pinned to other devices, plus settings that must survive
    "classification_chest": """
name: "classification_chest"
backend: "python"
max_batch_size: 8
dynamic_batching { max_queue_delay_microseconds: 100 }
instance_group [ { kind: KIND_GPU, count: 2, gpus: [1, 2] }, { kind: KIND_CPU, count: 3 } ]
parameters { key: "EXECUTION_ENV_PATH" value: { string_value: "$$TRITON_MODEL_DIRECTORY/env.tar.gz" } }
""",
    "segmentation_liver": (
        'name: "segmentation_liver"\nbackend: "python"\ninstance_group [ { kind: KIND_AUTO, count: 4 } ]\n'
    ),
    "classification_breast": 'backend: "python"\ninstance_group [ { count: 1, gpus: [3] } ]\n',
    "segmentation_mri_brain_tumor": 'backend: "python"\ninstance_group [ { kind: KIND_CPU, count: 2 } ]\n',
}


@pytest.fixture
def model_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "models"
    for model in read_profile(BUILTIN_PROFILE).models():
        (repo / model / "1").mkdir(parents=True)
        (repo / model / "1" / "model.py").write_text(f"# {model}\n")
        (repo / model / "config.pbtxt").write_text(
            CONFIGS.get(model, f'name: "{model}"\nbackend: "python"\n')
        )
    return repo


def write(model_repo: Path, out: Path, *args: str):
    return CliRunner().invoke(
        cli, ["plan", "--model-repository", str(model_repo), "--write-repositories", str(out), *args]
    )


def parse(path: Path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())


def test_write_repositories_places_each_model_once_with_the_plan(model_repo: Path, tmp_path: Path):
    out = tmp_path / "deploy"
    result = write(model_repo, out, "--objective", "min-gpus")
    assert result.exit_code == 0, result.output
    plan = json.loads((out / "plan.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["plan.json", "endpoints.csv"]
        + [f"gpu{i}" for i in range(4)]
        + [f"launch-gpu{i}.sh" for i in range(4)]
    )
    for gpu in plan["gpus"]:
        repo = out / f"gpu{gpu['index']}"
        assert sorted(p.name for p in repo.iterdir()) == sorted(m["name"] for m in gpu["models"])
        for model in gpu["models"]:
            assert (repo / model["name"] / "1" / "model.py").read_text() == f"# {model['name']}\n"


def test_every_written_config_pins_gpu_groups_to_device_zero_and_keeps_the_rest(
    model_repo: Path, tmp_path: Path
):
    out = tmp_path / "deploy"
    assert write(model_repo, out).exit_code == 0
    configs = {p.parent.name: parse(p) for p in out.glob("gpu*/*/config.pbtxt")}
    assert len(configs) == 9
    chest = configs["classification_chest"]
    assert [(g.kind, g.count, list(g.gpus)) for g in chest.instance_group] == [
        (mc.ModelInstanceGroup.KIND_GPU, 2, [0]),
        (mc.ModelInstanceGroup.KIND_CPU, 3, []),
    ]
    assert chest.max_batch_size == 8
    assert chest.dynamic_batching.max_queue_delay_microseconds == 100
    assert chest.parameters["EXECUTION_ENV_PATH"].string_value == "$$TRITON_MODEL_DIRECTORY/env.tar.gz"
    liver = configs["segmentation_liver"].instance_group[0]
    assert (liver.kind, liver.count, list(liver.gpus)) == (mc.ModelInstanceGroup.KIND_GPU, 4, [0])
    breast = configs["classification_breast"].instance_group[0]  # kind omitted = KIND_AUTO
    assert (breast.kind, list(breast.gpus)) == (mc.ModelInstanceGroup.KIND_GPU, [0])
    brain = configs["segmentation_mri_brain_tumor"].instance_group[0]
    assert (brain.kind, brain.count, list(brain.gpus)) == (mc.ModelInstanceGroup.KIND_CPU, 2, [])
    assert len(configs["segmentation_ct_spleen"].instance_group) == 0  # Triton's default: the one visible GPU


def test_launch_scripts_pin_one_gpu_and_distinct_ports(model_repo: Path, tmp_path: Path):
    out = tmp_path / "deploy"
    assert write(model_repo, out, "--base-port", "9000").exit_code == 0
    scripts = sorted(out.glob("launch-gpu*.sh"))
    ports = set()
    for i, script in enumerate(scripts):
        text = script.read_text()
        assert script.stat().st_mode & 0o111
        assert f'--gpu "${{GPUPACK_GPU:-{i}}}"' in text
        assert f'serve "$here/gpu{i}"' in text
        for flag, offset in (("--http-port", 0), ("--grpc-port", 1), ("--metrics-port", 2)):
            port = 9000 + 3 * i + offset
            assert f"{flag} {port}" in text
            ports.add(port)
    assert len(ports) == 3 * len(scripts)


def test_existing_non_empty_output_is_refused_and_left_alone(model_repo: Path, tmp_path: Path):
    out = tmp_path / "deploy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = write(model_repo, out)
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_failure_midway_leaves_no_partial_output(model_repo: Path, tmp_path: Path):
    (model_repo / "segmentation_ct_spleen" / "config.pbtxt").write_text(
        "instance_group [ { kind: KIND_NOPE } ]"
    )
    out = tmp_path / "deploy"
    result = write(model_repo, out)
    assert result.exit_code == 2, result.output
    assert "segmentation_ct_spleen" in result.output and "not a valid model config" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "a\\b", ""])
def test_model_names_with_path_separators_are_refused(name: str):
    with pytest.raises(InputError, match="not a plain directory name"):
        check_model_name(name)


def test_rewrite_config_is_a_protobuf_round_trip():
    text = rewrite_config(CONFIGS["classification_chest"], "x")
    again = rewrite_config(text, "x")
    assert text == again


def test_each_written_config_names_the_point_the_plan_counts_on(model_repo: Path, tmp_path: Path):
    out = tmp_path / "deploy"
    assert write(model_repo, out, "--objective", "throughput").exit_code == 0
    plan = json.loads((out / "plan.json").read_text())
    for gpu in plan["gpus"]:
        for model in gpu["models"]:
            first = (out / f"gpu{gpu['index']}" / model["name"] / "config.pbtxt").read_text().splitlines()[0]
            assert first.startswith(
                f"# gpupack plan: profiled at batch size {model['batch_size']}, "
                f"concurrency {model['concurrency']}, 1 instance(s), {model['throughput']:g} infer/s"
            )


def test_endpoints_map_every_model_to_its_gpus_urls(model_repo: Path, tmp_path: Path):
    out = tmp_path / "deploy"
    assert write(model_repo, out, "--base-port", "9000").exit_code == 0
    plan = json.loads((out / "plan.json").read_text())
    rows = (out / "endpoints.csv").read_text().splitlines()
    assert rows[0] == "model,gpu,http_url,grpc_url"
    expected = [
        f"{m['name']},{g['index']},http://localhost:{9000 + 3 * g['index']},localhost:{9001 + 3 * g['index']}"
        for g in plan["gpus"]
        for m in g["models"]
    ]
    assert rows[1:] == expected
    assert [e["model"] for e in plan["endpoints"]] == [r.split(",")[0] for r in rows[1:]]


def test_a_model_without_config_is_copied_as_it_is(model_repo: Path, tmp_path: Path):
    (model_repo / "segmentation_ct_spleen" / "config.pbtxt").unlink()
    (model_repo / "segmentation_ct_spleen" / "1" / "model.onnx").write_bytes(b"\x08\x07onnx")
    out = tmp_path / "deploy"
    assert write(model_repo, out).exit_code == 0
    (copied,) = out.glob("gpu*/segmentation_ct_spleen")
    assert sorted(p.name for p in copied.rglob("*")) == ["1", "model.onnx", "model.py"]
    assert (copied / "1" / "model.onnx").read_bytes() == b"\x08\x07onnx"


def test_comments_of_a_config_survive(model_repo: Path, tmp_path: Path):
    chest = model_repo / "classification_chest" / "config.pbtxt"
    chest.write_text("# owned by the imaging team\n" + CONFIGS["classification_chest"])
    spleen = model_repo / "segmentation_ct_spleen" / "config.pbtxt"
    spleen.write_text(
        '# keep batching off\nname: "segmentation_ct_spleen"  # the CT one\nbackend: "python"\n'
    )
    out = tmp_path / "deploy"
    assert write(model_repo, out).exit_code == 0
    (written_chest,) = out.glob("gpu*/classification_chest/config.pbtxt")
    assert "# owned by the imaging team" in written_chest.read_text()
    (written_spleen,) = out.glob("gpu*/segmentation_ct_spleen/config.pbtxt")
    assert written_spleen.read_text().split("\n", 1)[1] == spleen.read_text()  # unchanged below the header


def test_a_linked_config_is_copied_and_what_it_links_to_is_never_written(model_repo: Path, tmp_path: Path):
    shared = tmp_path / "shared.pbtxt"
    shared.write_text(CONFIGS["classification_chest"])
    config = model_repo / "classification_chest" / "config.pbtxt"
    config.unlink()
    config.symlink_to(shared)
    out = tmp_path / "deploy"
    assert write(model_repo, out).exit_code == 0
    assert shared.read_text() == CONFIGS["classification_chest"]
    (written,) = out.glob("gpu*/classification_chest/config.pbtxt")
    assert not written.is_symlink() and written.read_text().startswith("# gpupack plan:")


def test_a_fifo_in_a_model_folder_and_an_output_inside_the_source_are_refused(
    model_repo: Path, tmp_path: Path
):
    out_inside = model_repo / "deploy"
    result = write(model_repo, out_inside)
    assert result.exit_code == 2 and "is inside --model-repository" in result.output
    assert not out_inside.exists()
    os.mkfifo(model_repo / "classification_chest" / "1" / "pipe")
    result = write(model_repo, tmp_path / "deploy")
    assert result.exit_code == 2 and "not a regular file or folder" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "deploy").exists()


def test_an_ensemble_runs_with_its_steps_on_every_gpu_that_serves_it(model_repo: Path, tmp_path: Path):
    (model_repo / "preprocess" / "1").mkdir(parents=True)
    (model_repo / "preprocess" / "config.pbtxt").write_text('name: "preprocess"\nbackend: "python"\n')
    (model_repo / "ens" / "1").mkdir(parents=True)
    (model_repo / "ens" / "config.pbtxt").write_text(
        'name: "ens"\nplatform: "ensemble"\nensemble_scheduling { step ['
        ' { model_name: "preprocess" model_version: -1 },'
        ' { model_name: "classification_chest" model_version: -1 } ] }\n'
    )
    profile = tmp_path / "profile"
    profile.mkdir()
    seed = (BUILTIN_PROFILE / "profile.csv").read_text()
    (profile / "profile.csv").write_text(seed + "ens,2,4,150,11,56,5600\n")
    (profile / "server-only.csv").write_text((BUILTIN_PROFILE / "server-only.csv").read_text())
    (profile / "metadata.json").write_text((BUILTIN_PROFILE / "metadata.json").read_text())
    out = tmp_path / "deploy"
    result = write(model_repo, out, "--profiles", str(profile))
    assert result.exit_code == 0, result.output
    plan = json.loads((out / "plan.json").read_text())
    (gpu,) = [g for g in plan["gpus"] if "ens" in [m["name"] for m in g["models"]]]
    assert "classification_chest" in [m["name"] for m in gpu["models"]]  # profiled step: planned together
    repo = out / f"gpu{gpu['index']}"
    assert {"ens", "preprocess", "classification_chest"} <= {p.name for p in repo.iterdir()}
    assert not (repo / "preprocess" / "config.pbtxt").read_text().startswith("# gpupack plan:")
