"""A written plan, read back as plain JSON: what ``gpupack validate`` checks on real servers.

``gpupack plan --write-repositories DIR`` writes ``DIR/plan.json``, one Triton repository per GPU
(``DIR/gpu<i>/``) and its launch script (``DIR/launch-gpu<i>.sh``). The profiler must not import the
packer (the GPU host has no OR-Tools), so the plan is read here from its documented JSON (README,
"Plan JSON"): ``gpus[].index``, ``gpus[].memory_mb`` and ``gpus[].models[]`` with ``name``,
``batch_size``, ``concurrency``, ``throughput`` (infer/s) and ``memory_mb``; other keys are ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from profiler.base.errors import InputError

PLAN_JSON = "plan.json"


def repository_name(index: int) -> str:
    """The folder of GPU ``index``'s repository inside a plan directory."""
    return f"gpu{index}"


@dataclass(frozen=True)
class PlannedModel:
    """One model on one GPU, at the point the plan counts on."""

    name: str
    batch_size: int
    concurrency: int
    throughput: float
    memory_mb: float | None = None


@dataclass(frozen=True)
class PlannedGpu:
    """One GPU of the plan: its models, the memory and GPU utilization it expects (server included)."""

    index: int
    models: tuple[PlannedModel, ...]
    memory_mb: float | None = None
    gpu_util_pct: float | None = None

    @property
    def promised_throughput(self) -> float:
        """The sum of its models' planned throughputs, infer/s."""
        return sum(model.throughput for model in self.models)


@dataclass(frozen=True)
class Deployment:
    """A plan directory: the plan's GPUs and where each one's repository is."""

    directory: Path
    gpus: tuple[PlannedGpu, ...]
    gpu_memory_mb: float | None = None

    def repository(self, index: int) -> Path:
        """GPU ``index``'s model repository."""
        return self.directory / repository_name(index)

    def largest_batch(self, model: str) -> int:
        """The largest batch size the plan sends ``model`` on any GPU (its warm-up batch)."""
        return max(m.batch_size for gpu in self.gpus for m in gpu.models if m.name == model)


def _field(where: str, data: dict, key: str, kind: type, required: bool = True) -> object:
    value = data.get(key)
    if value is None:
        if required:
            raise InputError(f"{where}: missing {key!r}")
        return None
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        raise InputError(f"{where}: {key!r} must be {'a number' if kind is float else kind.__name__}")
    return float(value) if kind is float else value


def _model(where: str, data: object) -> PlannedModel:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected an object")
    name = _field(where, data, "name", str)
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise InputError(f"{where}: {name!r} is not a model name")
    model = PlannedModel(
        name=name,
        batch_size=_field(where, data, "batch_size", int),
        concurrency=_field(where, data, "concurrency", int),
        throughput=_field(where, data, "throughput", float),
        memory_mb=_field(where, data, "memory_mb", float, required=False),
    )
    if model.batch_size < 1 or model.concurrency < 1 or model.throughput < 0:
        raise InputError(f"{where} ({name}): batch_size and concurrency must be ≥ 1, throughput ≥ 0")
    return model


def _gpu(where: str, data: object) -> PlannedGpu:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected an object")
    index = _field(where, data, "index", int)
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise InputError(f"{where}: 'models' must be a non-empty list")
    planned = tuple(_model(f"{where}.models[{i}]", m) for i, m in enumerate(models))
    names = [m.name for m in planned]
    if len(set(names)) != len(names):
        raise InputError(f"{where}: a model is placed twice on one GPU (one server loads a model once)")
    if index < 0:
        raise InputError(f"{where}: 'index' must be at least 0")
    return PlannedGpu(
        index=index,
        models=planned,
        memory_mb=_field(where, data, "memory_mb", float, False),
        gpu_util_pct=_field(where, data, "gpu_util_pct", float, False),
    )


def read_deployment(directory: Path) -> Deployment:
    """Read ``directory/plan.json`` and check that every planned model's repository folder is there.

    Raises:
        InputError: no plan.json, not the plan's JSON, or a model missing from its GPU's repository.

    """
    path = directory / PLAN_JSON
    fix = f"pass the directory written by `gpupack plan --write-repositories {directory}`"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", fix) from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("gpus"), list) or not data["gpus"]:
        raise InputError(f"{path}: expected an object with a non-empty 'gpus' list", fix)
    gpus = tuple(_gpu(f"{path}: gpus[{i}]", g) for i, g in enumerate(data["gpus"]))
    if len({g.index for g in gpus}) != len(gpus):
        raise InputError(f"{path}: two GPUs have the same index")
    memory = data.get("gpu_memory_mb")
    deployment = Deployment(
        directory=directory,
        gpus=gpus,
        gpu_memory_mb=float(memory) if isinstance(memory, (int, float)) and memory > 0 else None,
    )
    for gpu in gpus:
        for model in gpu.models:
            config = deployment.repository(gpu.index) / model.name / "config.pbtxt"
            if not config.is_file():
                where = f"GPU {gpu.index}: model {model.name!r}"
                raise InputError(f"{where} is not in its repository (no {config})", fix)
    return deployment
