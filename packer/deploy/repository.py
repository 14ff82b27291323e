"""Materialize a plan: one Triton model repository per GPU, a launch script each, endpoints, the plan.

The directory's layout and its writer belong to ``profiler.base.plan_dir`` (plan.json with its
endpoints, endpoints.csv, ``gpu<i>/`` and ``launch-gpu<i>.sh``); this module decides what goes in:
GPU i's repository holds the models placed on it and the models their ensembles call, its launch
script serves it with its own ports (``gpupack serve``, the same launcher ``gpupack profile`` uses:
server, Python stub, numpy<2 Python).

One server per GPU is the right shape: a Triton server allocates memory on every GPU it can see.
Configs are rewritten as ``configs`` says; a streaming (LLM) model's engine gets its planned memory
share as ``shares`` says. Links in the source are copied as the files they point
to, so nothing outside the output is ever written; FIFOs, sockets and devices are refused. The
whole tree is built in a temporary sibling directory and renamed into place (``write_plan_directory``).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packer.deploy.configs import CONFIG, rewrite_config
from packer.deploy.shares import gpu_shares, write_share
from packer.deploy.source import SourceModel, SourceRepository
from packer.deploy.variants import deployments
from packer.plan import Plan
from profiler import (
    Endpoint,
    InputError,
    Profile,
    ProfilePoint,
    installed_gpupack,
    launch_script,
    repository_name,
    write_plan_directory,
)

PORTS_PER_GPU = 3  # HTTP, gRPC, metrics
# URLs of the endpoints: the launch scripts serve on this host.
HOST = "localhost"


@dataclass(frozen=True)
class WrittenRepositories:
    """What ``write_repositories`` produced."""

    root: Path
    repositories: tuple[Path, ...]
    launch_scripts: tuple[Path, ...]
    endpoints: tuple[Endpoint, ...]
    notes: tuple[str, ...] = ()


def ports(base_port: int, index: int) -> tuple[int, int, int]:
    """HTTP, gRPC and metrics ports of GPU ``index``'s server."""
    first = base_port + PORTS_PER_GPU * index
    return first, first + 1, first + 2


def endpoints(plan: Plan, base_port: int) -> tuple[Endpoint, ...]:
    """One row per model replica, in GPU order."""
    rows = []
    for gpu in plan.gpus:
        http, grpc, _ = ports(base_port, gpu.index)
        for p in gpu.points:
            rows.append(Endpoint(p.model, gpu.index, f"http://{HOST}:{http}", f"{HOST}:{grpc}"))
    return tuple(rows)


def _copy_tree(source: Path, target: Path) -> None:
    """Copy ``source`` into the new folder ``target``, links as the files they point to."""
    target.mkdir()
    for entry in sorted(source.iterdir()):
        try:
            mode = entry.stat().st_mode  # follows links
        except FileNotFoundError:
            raise InputError(f"{entry}: a link to nothing (it points to {os.readlink(entry)!r})") from None
        if stat.S_ISDIR(mode):
            _copy_tree(entry, target / entry.name)
        elif stat.S_ISREG(mode):
            shutil.copyfile(entry, target / entry.name)
            shutil.copymode(entry, target / entry.name)
        else:
            raise InputError(f"{entry}: not a regular file or folder (a FIFO, socket or device?)")


def _copy_model(model: SourceModel, repo: Path, point: ProfilePoint | None, variant: str | None) -> None:
    """Copy ``model`` into ``repo``; its config (``variant``'s if given) rewritten, ``point`` named in it."""
    target = repo / model.name
    _copy_tree(model.path, target)
    text = variant if variant is not None else model.config_text
    if text is not None:
        written = target / CONFIG
        written.unlink(missing_ok=True)
        written.write_text(rewrite_config(text, str(model.path / CONFIG), point))


def _check_output(source: SourceRepository, output: Path, plan: Plan, base_port: int) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"{output} already exists and is not empty", "choose a new directory or remove it")
    root, out = source.root.resolve(), output.resolve()
    if out == root or root in out.parents or out in root.parents:
        raise InputError(f"--write-repositories {output} overlaps --model-repository {source.root}")
    if base_port < 1 or ports(base_port, plan.gpu_count)[0] > 65536:
        raise InputError(f"--base-port {base_port} leaves too few ports for {plan.gpu_count} GPUs")


def _deployed(
    gpu_points: tuple[ProfilePoint, ...], profile: Profile | None, source: SourceRepository, notes: list[str]
) -> dict[str, tuple[ProfilePoint, str | None]]:
    """Triton model → the point it serves and its config variant's text (``variants.deployments``)."""
    planned: dict[str, tuple[ProfilePoint, str | None]] = {}
    for point in gpu_points:
        found, why = deployments(point, profile, source.root)
        notes += [n for n in why if n not in notes]
        for deployment in found:
            planned[deployment.model] = (point, deployment.config)
    return planned


def write_repositories(
    plan: Plan,
    source: SourceRepository,
    output: Path,
    base_port: int = 8000,
    profiles: Mapping[str, Profile] | None = None,
) -> WrittenRepositories:
    """Write ``output`` as documented above; nothing is left behind if anything fails.

    ``profiles`` (GPU type name → its profile) give the config variants' model configs
    (``variants.deployments``); without them each model keeps the source's config.
    """
    _check_output(source, output, plan, base_port)
    rows = endpoints(plan, base_port)
    gpupack = installed_gpupack()
    notes: list[str] = []
    scripts = {}
    for gpu in plan.gpus:
        http, grpc, metrics = ports(base_port, gpu.index)
        models = [p.model for p in gpu.points]
        scripts[gpu.index] = launch_script(
            gpu.index, repository_name(gpu.index), http, grpc, metrics, gpupack, models
        )
    by_index = {gpu.index: gpu for gpu in plan.gpus}
    shares = {gpu.index: gpu_shares(gpu) for gpu in plan.gpus}  # refused before anything is written

    def fill(index: int, repo: Path) -> None:
        gpu = by_index[index]
        planned = _deployed(gpu.points, (profiles or {}).get(gpu.gpu_type), source, notes)
        for name in dict.fromkeys(m for model in planned for m in source.closure(model)):
            point, variant = planned.get(name, (None, None))
            _copy_model(source.models[name], repo, point, variant)
            if name in shares[index]:
                note = write_share(source.models[name], repo / name, shares[index][name])
                notes.append(
                    f"GPU {index}: {note}" if note else f"GPU {index}: {name}: its backend has no memory knob"
                )

    written = write_plan_directory(output, plan.to_dict(), rows, scripts, fill)
    return WrittenRepositories(
        root=written.root,
        repositories=written.repositories,
        launch_scripts=written.launch_scripts,
        endpoints=rows,
        notes=tuple(notes),
    )
