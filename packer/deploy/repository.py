"""Materialize a plan: one Triton model repository per GPU, a launch script each, and the plan JSON.

Layout of the output directory::

    plan.json
    gpu0/<model>/...      models placed on GPU 0, copied from the source repository
    launch-gpu0.sh        starts tritonserver on gpu0/ with CUDA_VISIBLE_DEVICES=0 and its own ports
    gpu1/...

One server per GPU is the right shape: a Triton server allocates memory on every GPU it can see.
Each config.pbtxt is parsed into tritonclient's ``model_config_pb2.ModelConfig``, changed as a
message (every KIND_GPU or KIND_AUTO instance group becomes KIND_GPU on device 0 of its server, the
only device it sees; counts, KIND_CPU groups and all other settings are kept) and written back with
``text_format``, after a comment naming the profiled point the plan counts on (client batch
size, concurrency, instance count, throughput). The whole tree is built in a temporary directory
and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from packer.deploy.variants import ModelDeployment, deployments
from packer.plan import Plan
from profiler import InputError, Profile, ProfilePoint

CONFIG = "config.pbtxt"
PORTS_PER_GPU = 3  # HTTP, gRPC, metrics

_LAUNCH = """#!/usr/bin/env bash
# gpupack plan, GPU {index}: {models}
# Starts one Triton server that sees only this GPU. Override the binary with TRITONSERVER=...,
# the physical GPU with GPUPACK_GPU=...; extra arguments go to tritonserver.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CUDA_VISIBLE_DEVICES="${{GPUPACK_GPU:-{index}}}"
exec "${{TRITONSERVER:-tritonserver}}" --model-repository="$here/gpu{index}" \\
    --http-port={http} --grpc-port={grpc} --metrics-port={metrics} "$@"
"""


@dataclass(frozen=True)
class WrittenRepositories:
    """What ``write_repositories`` produced."""

    root: Path
    repositories: tuple[Path, ...]
    launch_scripts: tuple[Path, ...]
    notes: tuple[str, ...] = ()


def check_model_name(name: str) -> None:
    """Refuse names that could escape the repository directory."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or os.sep in name or ".." in name:
        raise InputError(
            f"model name {name!r} is not a plain directory name (contains a path separator or '..')"
        )


def rewrite_config(text: str, source: str, point: ProfilePoint | None = None) -> str:
    """``text`` (a config.pbtxt) with every GPU/AUTO instance group pinned to KIND_GPU, device 0.

    With ``point``, a comment first says which profiled point the plan counts on: the client
    batch size and concurrency to send at, and the instance count it was measured with.
    """
    config = mc.ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise InputError(f"{source}: not a valid model config ({exc})") from None
    for group in config.instance_group:
        if group.kind in (mc.ModelInstanceGroup.KIND_GPU, mc.ModelInstanceGroup.KIND_AUTO):
            group.kind = mc.ModelInstanceGroup.KIND_GPU
            del group.gpus[:]
            group.gpus.append(0)
    header = ""
    if point is not None:
        header = (
            f"# gpupack plan: profiled at batch size {point.batch_size}, concurrency {point.concurrency}, "
            f"{point.instance_count} instance(s)"
            + (f", config variant {point.variant}" if point.variant else "")
            + (f", {point.throughput:g} infer/s" if point.throughput is not None else "")
            + "\n"
        )
    return header + text_format.MessageToString(config)


def _copy_model(
    source_repo: Path, point: ProfilePoint, target_repo: Path, deployment: ModelDeployment | None = None
) -> None:
    """Copy one model; ``deployment`` names it (a group point's member) and its variant's config."""
    name = deployment.model if deployment else point.model
    check_model_name(name)
    source = source_repo / name
    config = source / CONFIG
    if not config.is_file():
        raise InputError(
            f"model {name!r} of the plan is not in --model-repository {source_repo} (no {name}/{CONFIG})"
        )
    shutil.copytree(source, target_repo / name, symlinks=True)
    text = deployment.config if deployment and deployment.config else config.read_text()
    (target_repo / name / CONFIG).write_text(rewrite_config(text, str(config), point))


def write_repositories(
    plan: Plan,
    source_repo: Path,
    output: Path,
    base_port: int = 8000,
    profiles: Mapping[str, Profile] | None = None,
) -> WrittenRepositories:
    """Write ``output`` as documented above; nothing is left behind if anything fails.

    ``profiles`` (GPU type name → its profile) give the config variants' model configs
    (``variants.deployments``); without them each model keeps the source's config.
    """
    if not source_repo.is_dir():
        raise InputError(f"--model-repository {source_repo}: not a directory")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"{output} already exists and is not empty", "choose a new directory or remove it")
    if base_port + PORTS_PER_GPU * plan.gpu_count > 65536:
        raise InputError(f"--base-port {base_port} leaves too few ports for {plan.gpu_count} GPUs")
    output.parent.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary directory
        for gpu in plan.gpus:
            repo = tmp / f"gpu{gpu.index}"
            repo.mkdir()
            for point in gpu.points:
                found, why = deployments(point, (profiles or {}).get(gpu.gpu_type), source_repo)
                notes += [n for n in why if n not in notes]
                for deployment in found:
                    _copy_model(source_repo, point, repo, deployment)
            port = base_port + PORTS_PER_GPU * gpu.index
            script = tmp / f"launch-gpu{gpu.index}.sh"
            script.write_text(
                _LAUNCH.format(
                    index=gpu.index,
                    models=", ".join(p.model for p in gpu.points),
                    http=port,
                    grpc=port + 1,
                    metrics=port + 2,
                )
            )
            script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        (tmp / "plan.json").write_text(plan.to_json())
        if output.exists():
            output.rmdir()
        tmp.rename(output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return WrittenRepositories(
        root=output,
        repositories=tuple(output / f"gpu{g.index}" for g in plan.gpus),
        launch_scripts=tuple(output / f"launch-gpu{g.index}.sh" for g in plan.gpus),
        notes=tuple(notes),
    )
