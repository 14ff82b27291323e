"""Materialize a plan: one Triton model repository per GPU, a launch script each, endpoints, the plan.

The directory's layout and its writer belong to ``profiler.base.plan_dir`` (plan.json with its
endpoints, endpoints.csv, ``gpu<i>/`` and ``launch-gpu<i>.sh``); this module decides what goes in:
GPU i's repository holds the models placed on it and the models their ensembles call, its launch
script serves it with its own ports (``gpupack serve``, the same launcher ``gpupack profile`` uses:
server, Python stub, numpy<2 Python).

One server per GPU is the right shape: a Triton server allocates memory on every GPU it can see. A
GPU cut into MIG slices runs one server per slice, each seeing only its slice (``gpu<i>/mig<s>/``,
its launch script pins each by MIG device UUID), and the plan directory gets a mig-parted config.
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
from packer.mig.parted import mig_parted_yaml
from packer.plan import Gpu, MigSlice, Plan
from profiler import (
    Endpoint,
    InputError,
    Profile,
    ProfilePoint,
    SliceServer,
    installed_gpupack,
    launch_script,
    mig_launch_script,
    repository_name,
    slice_repository_name,
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
    """HTTP, gRPC and metrics ports of server ``index`` (GPU i's, in a plan without MIG slices)."""
    first = base_port + PORTS_PER_GPU * index
    return first, first + 1, first + 2


def servers(plan: Plan) -> list[tuple[Gpu, MigSlice | None]]:
    """The plan's servers in order: one per whole GPU, one per MIG slice of a sliced GPU."""
    return [(gpu, part) for gpu in plan.gpus for part in (gpu.mig or (None,))]


def endpoints(plan: Plan, base_port: int) -> tuple[Endpoint, ...]:
    """One row per model replica, in GPU order (a sliced GPU's by slice), each at its server's ports."""
    rows = []
    for n, (gpu, part) in enumerate(servers(plan)):
        http, grpc, _ = ports(base_port, n)
        for p in gpu.points if part is None else part.points:
            rows.append(Endpoint(p.model, gpu.index, f"http://{HOST}:{http}", f"{HOST}:{grpc}"))
    return tuple(rows)


def _scripts(plan: Plan, base_port: int, gpupack: str) -> dict[int, str]:
    """Per GPU its launch script: one server, or one per MIG slice pinned by its MIG device UUID."""
    scripts: dict[int, str] = {}
    slices: dict[int, list[SliceServer]] = {}
    for n, (gpu, part) in enumerate(servers(plan)):
        http, grpc, metrics = ports(base_port, n)
        if part is None:
            models = [p.model for p in gpu.points]
            scripts[gpu.index] = launch_script(
                gpu.index, repository_name(gpu.index), http, grpc, metrics, gpupack, models
            )
            continue
        folder = slice_repository_name(part.start)
        server = SliceServer(
            part.profile,
            part.start,
            folder,
            http,
            grpc,
            metrics,
            tuple(p.model for p in part.points),
        )
        slices.setdefault(gpu.index, []).append(server)
    for index, parts in slices.items():
        scripts[index] = mig_launch_script(index, repository_name(index), parts, gpupack)
    return dict(sorted(scripts.items()))


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
    count = len(servers(plan))
    if base_port < 1 or ports(base_port, count)[0] > 65536:
        raise InputError(f"--base-port {base_port} leaves too few ports for {count} servers")


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
    scripts = _scripts(plan, base_port, gpupack)
    by_index = {gpu.index: gpu for gpu in plan.gpus}
    # Streaming models' memory shares, whole GPUs only (a MIG slice is its own memory limit); refused
    # before anything is written.
    shares = {gpu.index: gpu_shares(gpu) if gpu.mig is None else {} for gpu in plan.gpus}

    def fill_one(
        points: tuple[ProfilePoint, ...], gpu_type: str, repo: Path, index: int | None = None
    ) -> None:
        planned = _deployed(points, (profiles or {}).get(gpu_type), source, notes)
        mine = shares.get(index, {}) if index is not None else {}
        for name in dict.fromkeys(m for model in planned for m in source.closure(model)):
            point, variant = planned.get(name, (None, None))
            _copy_model(source.models[name], repo, point, variant)
            if name in mine:
                note = write_share(source.models[name], repo / name, mine[name])
                notes.append(f"GPU {index}: {note or f'{name}: its backend has no memory knob'}")

    def fill(index: int, repo: Path) -> None:
        gpu = by_index[index]
        if gpu.mig is None:
            fill_one(gpu.points, gpu.gpu_type, repo, index)
            return
        # A sliced GPU: one repository per slice, each served by its own server.
        for part in gpu.mig:
            (repo / slice_repository_name(part.start)).mkdir()
            fill_one(part.points, gpu.gpu_type, repo / slice_repository_name(part.start))

    sliced = any(gpu.mig is not None for gpu in plan.gpus)
    mig_parted = mig_parted_yaml(plan) if sliced else None
    written = write_plan_directory(output, plan.to_dict(), rows, scripts, fill, mig_parted)
    return WrittenRepositories(
        root=written.root,
        repositories=written.repositories,
        launch_scripts=written.launch_scripts,
        endpoints=rows,
        notes=tuple(notes),
    )
