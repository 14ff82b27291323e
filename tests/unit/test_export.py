"""gpupack export: Kubernetes manifests valid against the upstream schema, and a compose file."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from kubernetes_validate.utils import latest_version

from cli import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def written(tmp_path: Path) -> Path:
    """A plan of the example fleet (two GPU types, one with a product label) written to a DIR."""
    repo = tmp_path / "models"
    fleet = yaml.safe_load((EXAMPLES / "fleet.yaml").read_text())
    fleet["gpu_types"][1]["product_label"] = "NVIDIA-A40"
    for t in fleet["gpu_types"]:
        t["profile"] = str(EXAMPLES / t["profile"])
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(fleet))
    for line in (EXAMPLES / "profiles" / "small-16gb" / "profile.csv").read_text().splitlines()[1:]:
        (repo / line.split(",")[0] / "1").mkdir(parents=True, exist_ok=True)
    out = tmp_path / "deploy"
    result = CliRunner().invoke(
        cli,
        [
            "plan",
            "--fleet",
            str(fleet_file),
            "--model-repository",
            str(repo),
            "--write-repositories",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def export(*args: str):
    return CliRunner().invoke(cli, ["export", *args])


def test_every_kubernetes_object_is_schema_valid_and_carries_the_plan(written: Path, tmp_path: Path):
    out = tmp_path / "k8s.yaml"
    result = export(
        str(written), "--kubernetes", str(out), "--volume", "pvc:models", "--image", "triton:24.10"
    )
    assert result.exit_code == 0, result.output
    objects = list(yaml.safe_load_all(out.read_text()))
    plan = json.loads((written / "plan.json").read_text())
    assert [o["kind"] for o in objects] == ["Deployment", "Service"] * plan["gpu_count"]
    for obj in objects:
        kubernetes_validate.validate(obj, latest_version(), strict=True)
    for gpu, (deployment, service) in zip(
        plan["gpus"], zip(objects[::2], objects[1::2], strict=True), strict=True
    ):
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
        assert container["args"][1] == f"--model-repository=/models/gpu{gpu['index']}"
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        assert [p["containerPort"] for p in container["ports"]] == [8000, 8001, 8002]
        assert pod["volumes"] == [
            {"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}}
        ]
        assert deployment["metadata"]["labels"]["gpupack.io/gpu"] == str(gpu["index"])
        models = [m["name"] for m in gpu["models"]]
        assert deployment["metadata"]["annotations"]["gpupack.io/models"] == ",".join(models)
        assert all(deployment["metadata"]["labels"][f"model.gpupack.io/{m}"] == "true" for m in models)
        if gpu["type"] == "large-48gb":
            assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A40"}
        else:
            assert "nodeSelector" not in pod
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("volume", ["hostpath:/srv/deploy", "image"])
def test_host_path_and_image_volumes_are_schema_valid(written: Path, tmp_path: Path, volume: str):
    out = tmp_path / "k8s.yaml"
    assert export(str(written), "--kubernetes", str(out), "--volume", volume).exit_code == 0
    for obj in yaml.safe_load_all(out.read_text()):
        kubernetes_validate.validate(obj, latest_version(), strict=True)


def test_compose_reserves_one_gpu_per_service_on_the_plans_ports(written: Path, tmp_path: Path):
    out = tmp_path / "compose.yaml"
    assert export(str(written), "--compose", str(out)).exit_code == 0
    services = yaml.safe_load(out.read_text())["services"]
    plan = json.loads((written / "plan.json").read_text())
    assert sorted(services) == sorted(f"gpu{g['index']}" for g in plan["gpus"])
    for gpu in plan["gpus"]:
        service = services[f"gpu{gpu['index']}"]
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device == {"driver": "nvidia", "device_ids": [str(gpu["index"])], "capabilities": ["gpu"]}
        http = 8000 + 3 * gpu["index"]
        assert service["ports"] == [f"{http}:8000", f"{http + 1}:8001", f"{http + 2}:8002"]
        assert service["volumes"] == [f"{written.resolve()}:/models:ro"]


def test_bad_export_requests_are_refused_in_one_line(written: Path, tmp_path: Path):
    assert "at least one of" in export(str(written)).output
    result = export(str(written), "--kubernetes", str(tmp_path / "k.yaml"), "--volume", "nfs:/x")
    assert result.exit_code == 2 and "expected pvc:NAME" in result.output
    result = export(str(tmp_path), "--compose", str(tmp_path / "c.yaml"))
    assert result.exit_code == 2 and "plan.json: no such file" in result.output
    assert not (tmp_path / "k.yaml").exists() and not (tmp_path / "c.yaml").exists()


def test_the_profile_job_is_an_indexed_job_of_one_gpu_pods_writing_their_shard(tmp_path: Path):
    out = tmp_path / "job.yaml"
    result = export(
        "--kubernetes-profile-job", str(out), "--shards", "4", "--image", "registry.local/gpupack:1",
        "--volume", "pvc:models", "--results-volume", "pvc:profiles",
        "--profile-args", "--batch 1,4 --concurrency 1,4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (job,) = list(yaml.safe_load_all(out.read_text()))
    kubernetes_validate.validate(job, latest_version(), strict=True)
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    (container,) = spec["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    command = container["command"][2]
    assert '--shard "$JOB_COMPLETION_INDEX/4"' in command and "--batch 1,4 --concurrency 1,4" in command
    assert '--output "/results/shard-$JOB_COMPLETION_INDEX"' in command
    assert {v["name"] for v in spec["template"]["spec"]["volumes"]} == {"models", "results"}


def test_a_profile_job_without_its_pieces_is_refused(tmp_path: Path):
    result = export("--kubernetes-profile-job", str(tmp_path / "j.yaml"), "--volume", "pvc:m")
    assert result.exit_code == 2 and "needs --image, --shards and --results-volume" in result.output
    result = export(
        "--kubernetes-profile-job", str(tmp_path / "j.yaml"), "--volume", "pvc:m", "--image", "i",
        "--shards", "2", "--results-volume", "image",
    )  # fmt: skip
    assert result.exit_code == 2 and "writable volume" in result.output
    assert not (tmp_path / "j.yaml").exists()
