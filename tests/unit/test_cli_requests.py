"""The typed requests the commands parse their options into: their combination checks, without click."""

from __future__ import annotations

from pathlib import Path

import pytest

from packer.commands.plan import PlanOptions
from packer.deploy.export import ExportRequest, export
from packer.settings import Objective
from profiler import InputError
from profiler.commands.profile import ProfileJob
from profiler.measure.request import ProfileRequest
from profiler.measure.shards import Shard


def test_plan_options_as_given_agree_and_become_the_services_request_with_defaults_filled_in():
    options = PlanOptions()
    assert options.conflict() is None
    request = options.request(debug=True)
    assert request.objective is Objective.MIN_GPUS
    assert (request.thresholds.max_gpu_util_pct, request.thresholds.max_mem_util_pct) == (100.0, 100.0)
    assert request.minimize == "cost"
    assert request.settings.debug is True


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (PlanOptions(max_gpu_util=80.0), "apply to --objective throughput only"),
        (PlanOptions(model_repository=Path("m")), "--model-repository and --write-repositories go together"),
        (PlanOptions(interference=(Path("v.json"),)), "--interference applies to"),
        (PlanOptions(gpu_budget=2), "--gpus (a budget to maximize throughput on)"),
        (PlanOptions(fleet=Path("f.yaml"), profiles=Path("p")), "drop --profiles/--gpu-memory"),
        (PlanOptions(minimize="gpus"), "--minimize chooses between cost and GPU count of a --fleet"),
        (
            PlanOptions(objective="throughput", fleet=Path("f"), minimize="gpus", gpu_budget=2),
            "--minimize does not apply with --gpus",
        ),
        (PlanOptions(pins=(("a", "big"),)), "--pin names a GPU type of --fleet"),
    ],
)
def test_plan_options_name_the_combination_that_makes_no_sense(options: PlanOptions, message: str):
    conflict = options.conflict()
    assert conflict is not None
    assert message in conflict


def test_plan_options_accept_what_throughput_and_targets_allow():
    assert PlanOptions(objective="throughput", max_gpu_util=80.0, gpu_budget=2).conflict() is None
    assert PlanOptions(targets=Path("t.yaml"), interference=(Path("v.json"),)).conflict() is None


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ExportRequest(), "name at least one of --kubernetes, --compose and --kubernetes-profile-job"),
        (ExportRequest(compose=Path("c.yaml")), "export a plan: name its DIRECTORY"),
        (ExportRequest(directory=Path("d"), kubernetes=Path("k.yaml")), "need --volume"),
        (
            ExportRequest(kubernetes_profile_job=Path("j.yaml"), volume="image"),
            "needs --image, --shards and --results-volume",
        ),
    ],
)
def test_export_request_names_the_combination_that_makes_no_sense(request_: ExportRequest, message: str):
    conflict = request_.conflict()
    assert conflict is not None
    assert message in conflict


def test_export_refuses_a_request_whose_options_disagree_and_writes_nothing(tmp_path: Path):
    with pytest.raises(InputError, match="export a plan: name its DIRECTORY"):
        list(export(ExportRequest(compose=tmp_path / "c.yaml")))
    assert list(tmp_path.iterdir()) == []


def test_export_writes_a_profile_job_without_a_plan_and_says_what_it_wrote(tmp_path: Path):
    job = tmp_path / "job.yaml"
    request = ExportRequest(
        kubernetes_profile_job=job,
        image="me/gpupack:1",
        volume="pvc:models",
        results_volume="pvc:out",
        shards=3,
    )
    assert request.conflict() is None
    written = list(export(request))
    assert [(w.what, w.path) for w in written] == [("an Indexed Job of 3 profiling pods", job)]
    assert "completionMode: Indexed" in job.read_text()


def test_profile_job_refuses_gpus_with_a_remote_server_or_a_shard():
    remote = ProfileRequest(models=("a",), triton_url="localhost:8001")
    local = ProfileRequest(models=("a",), model_repository=Path("repo"))
    assert "drop --triton-url/--shard" in (ProfileJob(remote, gpus=(0, 1)).conflict() or "")
    assert "drop --triton-url/--shard" in (ProfileJob(local, (0, 1), Shard(0, 2)).conflict() or "")
    assert ProfileJob(local, gpus=(0, 1)).conflict() is None
    assert ProfileJob(remote, shard=Shard(0, 2)).conflict() is None
