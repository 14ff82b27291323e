"""Kubernetes manifests and a docker compose file for a written plan (``gpupack export``).

Both read what ``--write-repositories`` wrote (the plan directory, ``profiler.base.plan_dir``: the
plan with its endpoints) and run the stock ``tritonserver`` container, one per planned GPU, on that
GPU's repository ``gpu<i>/``:

- Kubernetes: per GPU (per MIG slice of a sliced GPU: ``nvidia.com/mig-<profile>: 1`` and a
  ``nodeSelector`` on ``nvidia.com/mig.config``, the layout's mig-parted config) a Deployment (one
  replica, ``nvidia.com/gpu: 1``, probes on
  ``/v2/health/ready`` and ``/v2/health/live``, ports 8000/8001/8002, a ``nodeSelector`` on
  ``nvidia.com/gpu.product`` where the GPU's type names a product label) and a Service; labels
  carry the GPU index and the models (as ``model.gpupack.io/<name>`` where the name is a valid
  label key, always in the ``gpupack.io/models`` annotation). The repositories come from a volume
  the user names: a PVC or a host path holding DIR, or an image with DIR at ``/models``.
- Compose: per GPU a service with a device reservation for that GPU and the plan's host ports.
- A profiling Job (``profile_job``): an Indexed Job of N pods, pod I running ``gpupack profile
  --shard I/N`` (Kubernetes sets ``JOB_COMPLETION_INDEX``) on one GPU, from the model repository
  volume into ``/results/shard-I`` on a results volume; ``gpupack profile merge`` joins the shards.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

from packer.fleet_file import LABEL_VALUE
from packer.mig.parted import layout_label
from profiler import (
    InputError,
    PlanFile,
    plan_json_path,
    read_plan,
    repository_name,
    slice_repository_name,
)
from profiler import PlannedGpu as PlannedGpuFile

DEFAULT_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-py3"
MODELS_PATH = "/models"
CONTAINER_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
PRODUCT_LABEL = "nvidia.com/gpu.product"
# The node label the GPU operator's MIG manager applies (the mig-parted config the node's GPUs run).
MIG_CONFIG_LABEL = "nvidia.com/mig.config"


@dataclass(frozen=True)
class Volume:
    """Where the pods find DIR: ``pvc:NAME``, ``hostpath:/PATH`` or ``image`` (DIR baked in at /models)."""

    kind: str
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> Volume:
        """``pvc:NAME``, ``hostpath:/PATH`` or ``image``; ``InputError`` otherwise."""
        kind, _, value = text.partition(":")
        if kind == "image" and not value:
            return cls("image")
        if kind in ("pvc", "hostpath") and value and (kind == "pvc" or value.startswith("/")):
            return cls(kind, value)
        raise InputError(f"--volume {text!r}: expected pvc:NAME, hostpath:/ABSOLUTE/PATH or image")


@dataclass(frozen=True)
class PlannedGpu:
    """What a manifest needs of one GPU of the plan."""

    index: int
    models: tuple[str, ...]
    product_label: str | None
    http_port: int
    # One MIG slice of a sliced GPU (one server each): its profile, start, and its GPU's layout label.
    mig_profile: str | None = None
    mig_start: int = 0
    mig_config: str | None = None

    @property
    def repository(self) -> str:
        """The repository it serves, relative to the plan directory."""
        name = repository_name(self.index)
        return name if self.mig_profile is None else f"{name}/{slice_repository_name(self.mig_start)}"

    @property
    def suffix(self) -> str:
        """Its objects' name after the prefix: ``gpu0``, or ``gpu0-mig4`` for a MIG slice."""
        name = repository_name(self.index)
        return name if self.mig_profile is None else f"{name}-{slice_repository_name(self.mig_start)}"


def _servers(plan: PlanFile, gpu: PlannedGpuFile) -> list[PlannedGpu]:
    """A planned GPU's servers: itself, or one per MIG slice with its own endpoint's port."""
    if gpu.mig is None:
        return [
            PlannedGpu(
                gpu.index, tuple(m.name for m in gpu.models), gpu.product_label, plan.http_port(gpu.index)
            )
        ]
    label = layout_label(s.profile for s in gpu.mig)
    out = []
    for part in gpu.mig:
        port = next(
            (e.http_port for e in plan.endpoints if e.gpu == gpu.index and e.model in part.models), None
        )
        if port is None:
            raise InputError(
                f"{plan.path}: not a plan written by --write-repositories (no endpoint on GPU {gpu.index})"
            )
        out.append(
            PlannedGpu(gpu.index, part.models, gpu.product_label, port, part.profile, part.start, label)
        )
    return out


def read_plan_dir(directory: Path) -> tuple[PlannedGpu, ...]:
    """The servers of DIR's plan (as ``--write-repositories`` writes it): per GPU, or per MIG slice."""
    plan = read_plan(plan_json_path(directory))
    gpus = tuple(server for g in plan.gpus for server in _servers(plan, g))
    for gpu in gpus:
        if not (plan.directory / gpu.repository).is_dir():
            raise InputError(f"{directory}: no repository {gpu.repository}/ for GPU {gpu.index} of the plan")
    return gpus


def _labels(prefix: str, gpu: PlannedGpu) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "tritonserver",
        "app.kubernetes.io/instance": prefix,
        "gpupack.io/gpu": str(gpu.index),
    } | ({} if gpu.mig_profile is None else {"gpupack.io/mig-slice": str(gpu.mig_start)})


def _volume(volume: Volume, name: str = "models", read_only: bool = True) -> list[dict]:
    if volume.kind == "pvc":
        return [{"name": name, "persistentVolumeClaim": {"claimName": volume.value, "readOnly": read_only}}]
    if volume.kind == "hostpath":
        return [{"name": name, "hostPath": {"path": volume.value, "type": "DirectoryOrCreate"}}]
    return []


def _device(gpu: PlannedGpu) -> str:
    return "nvidia.com/gpu" if gpu.mig_profile is None else f"nvidia.com/mig-{gpu.mig_profile}"


def _container(gpu: PlannedGpu, image: str, volume: Volume) -> dict:
    probe = {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 10}
    container = {
        "name": "tritonserver",
        "image": image,
        "args": ["tritonserver", f"--model-repository={MODELS_PATH}/{gpu.repository}"],
        "ports": [{"name": n, "containerPort": p} for n, p in CONTAINER_PORTS.items()],
        # A MIG slice is asked for by profile (the device plugin's mixed strategy).
        "resources": {"limits": {_device(gpu): 1}},
        "readinessProbe": probe,
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}, "initialDelaySeconds": 30},
    }
    if volume.kind != "image":
        container["volumeMounts"] = [{"name": "models", "mountPath": MODELS_PATH, "readOnly": True}]
    return container


def kubernetes_objects(gpus: tuple[PlannedGpu, ...], image: str, volume: Volume, prefix: str) -> list[dict]:
    """A Deployment and a Service per GPU, in GPU order."""
    objects = []
    for gpu in gpus:
        name = f"{prefix}-{gpu.suffix}"
        labels = _labels(prefix, gpu)
        model_labels = {f"model.gpupack.io/{m}": "true" for m in gpu.models if LABEL_VALUE.fullmatch(m)}
        metadata = {
            "name": name,
            "labels": labels | model_labels,
            "annotations": {"gpupack.io/models": ",".join(gpu.models)},
        }
        pod = {"containers": [_container(gpu, image, volume)], "volumes": _volume(volume)}
        selector = {PRODUCT_LABEL: gpu.product_label} if gpu.product_label else {}
        if gpu.mig_config:
            # The node's GPUs are cut as this GPU's layout (nvidia-mig-parted, mig-parted.yaml).
            selector[MIG_CONFIG_LABEL] = gpu.mig_config
        if selector:
            pod["nodeSelector"] = selector
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": metadata,
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels | model_labels}, "spec": pod},
                },
            }
        )
        ports = [{"name": n, "port": p, "targetPort": n} for n, p in CONTAINER_PORTS.items()]
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata,
                "spec": {"selector": labels, "ports": ports},
            }
        )
    return objects


def compose_file(gpus: tuple[PlannedGpu, ...], image: str, directory: Path) -> dict:
    """A compose project: one service per GPU, its GPU reserved, the plan's host ports."""
    services = {}
    if any(gpu.mig_profile for gpu in gpus):
        raise InputError(
            "--compose: a plan with MIG slices cannot reserve a slice by profile in compose",
            "export it with --kubernetes (nvidia.com/mig-<profile> resources), or run its launch scripts",
        )
    for gpu in gpus:
        host = gpu.http_port
        # A service is named after the repository it serves.
        services[repository_name(gpu.index)] = {
            "image": image,
            "command": ["tritonserver", f"--model-repository={MODELS_PATH}/{repository_name(gpu.index)}"],
            "volumes": [f"{directory.resolve()}:{MODELS_PATH}:ro"],
            "ports": [f"{host + k}:{p}" for k, p in enumerate(CONTAINER_PORTS.values())],
            "labels": {"gpupack.io/gpu": str(gpu.index), "gpupack.io/models": ",".join(gpu.models)},
            "deploy": {
                "resources": {
                    "reservations": {
                        "devices": [
                            {"driver": "nvidia", "device_ids": [str(gpu.index)], "capabilities": ["gpu"]}
                        ]
                    }
                }
            },
        }
    return {"name": "gpupack", "services": services}


def to_yaml(documents: list[dict]) -> str:
    """Documents as one multi-document YAML text, keys in the order written."""
    return yaml.safe_dump_all(documents, sort_keys=False)


RESULTS_PATH = "/results"


def profile_job(
    shards: int, image: str, models: Volume, results: Volume, profile_args: list[str], prefix: str
) -> dict:
    """An Indexed Job: pod I profiles shard I/``shards`` of ``models`` into ``/results/shard-I``."""
    if results.kind == "image":
        raise InputError(
            "--results-volume: the shard profiles need a writable volume (pvc:NAME or hostpath:/PATH)"
        )
    words = [
        "exec gpupack profile",
        f"--model-repository {MODELS_PATH}",
        f'--shard "$JOB_COMPLETION_INDEX/{shards}"',
        f'--output "{RESULTS_PATH}/shard-$JOB_COMPLETION_INDEX" --resume',
    ]
    command = " ".join(words + [shlex.quote(arg) for arg in profile_args])
    mounts = [{"name": "results", "mountPath": RESULTS_PATH}]
    if models.kind != "image":
        mounts.insert(0, {"name": "models", "mountPath": MODELS_PATH, "readOnly": True})
    container = {
        "name": "profile",
        "image": image,
        "command": ["sh", "-c", command],
        "resources": {"limits": {"nvidia.com/gpu": 1}},
        "volumeMounts": mounts,
    }
    labels = {"app.kubernetes.io/name": "gpupack-profile", "app.kubernetes.io/instance": prefix}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{prefix}-profile", "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": shards,
            "parallelism": shards,
            "backoffLimitPerIndex": 1,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container],
                    "volumes": _volume(models) + _volume(results, "results", read_only=False),
                },
            },
        },
    }
