"""A written plan as ``gpupack validate`` deploys it: read by ``plan_dir``, every model's folder checked.

The plan directory's layout and its typed reader belong to ``profiler.base.plan_dir``; validation adds
only that each planned model is in its GPU's repository, so a server never starts on half a plan.
"""

from __future__ import annotations

from pathlib import Path

from profiler.base.errors import InputError
from profiler.base.plan_dir import PlanFile, PlannedGpu, PlannedModel, plan_json_path, read_plan

# What validation calls the plan it deploys.
Deployment = PlanFile

__all__ = ["Deployment", "PlannedGpu", "PlannedModel", "read_deployment"]


def read_deployment(directory: Path) -> Deployment:
    """Read ``directory``'s plan JSON and check that every planned model's repository folder is there.

    Raises:
        InputError: no plan JSON, not the plan's JSON, or a model missing from its GPU's repository.

    """
    deployment = read_plan(plan_json_path(directory))
    fix = f"pass the directory written by `gpupack plan --write-repositories {directory}`"
    sliced = [gpu.index for gpu in deployment.gpus if gpu.mig is not None]
    if sliced:
        raise InputError(
            f"{directory}: GPU {sliced[0]} runs in MIG slices; validate serves one server per GPU and does "
            "not measure slices yet",
            "run the plan's launch scripts on GPUs cut as its mig-parted.yaml says, and measure each slice",
        )
    for gpu in deployment.gpus:
        for model in gpu.models:
            config = deployment.repository(gpu.index) / model.name / "config.pbtxt"
            if not config.is_file():
                where = f"GPU {gpu.index}: model {model.name!r}"
                raise InputError(f"{where} is not in its repository (no {config})", fix)
    return deployment
