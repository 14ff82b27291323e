"""Materialize a plan: one Triton model repository per GPU, a launch script each, endpoints, the plan.

Layout of the output directory::

    plan.json             the plan, with its endpoints
    endpoints.csv         model, GPU, HTTP and gRPC URL: where clients and gateways route
    gpu0/<model>/...      models placed on GPU 0 (and the models their ensembles call)
    launch-gpu0.sh        serves gpu0/ on GPU 0 with its own ports (``gpupack serve``, the same
                          launcher ``gpupack profile`` uses: server, Python stub, numpy<2 Python)
    gpu1/...

One server per GPU is the right shape: a Triton server allocates memory on every GPU it can see.
Configs are rewritten as ``configs`` says. Links in the source are copied as the files they point
to, so nothing outside the output is ever written; FIFOs, sockets and devices are refused. The
whole tree is built in a temporary sibling directory and renamed into place.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packer.deploy.configs import CONFIG, rewrite_config
from packer.deploy.source import SourceModel, SourceRepository
from packer.deploy.variants import deployments
from packer.plan import Plan
from profiler import (
    InputError,
    Profile,
    ProfilePoint,
    cannot_write,
    ensure_directory,
    installed_gpupack,
    launch_script,
    temp_dir,
)

PORTS_PER_GPU = 3  # HTTP, gRPC, metrics
# URLs in endpoints.csv: the launch scripts serve on this host.
HOST = "localhost"


@dataclass(frozen=True)
class Endpoint:
    """Where one model of the plan answers: its GPU and that GPU's server's URLs."""

    model: str
    gpu: int
    http: str
    grpc: str

    def to_dict(self) -> dict:
        """As in plan.json's ``endpoints`` list."""
        return {"model": self.model, "gpu": self.gpu, "http_url": self.http, "grpc_url": self.grpc}


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


def endpoints_csv(rows: tuple[Endpoint, ...]) -> str:
    """``endpoints.csv``: model, gpu, http_url, grpc_url."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "gpu", "http_url", "grpc_url"])
    writer.writerows([e.model, e.gpu, e.http, e.grpc] for e in rows)
    return out.getvalue()


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
    # A temporary sibling named with our pid: a run killed before the rename leaves it for the next
    # run to remove (``temp_dir``).
    tmp = temp_dir("repos", ensure_directory(output.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary directory
        for gpu in plan.gpus:
            repo = tmp / f"gpu{gpu.index}"
            repo.mkdir()
            planned = _deployed(gpu.points, (profiles or {}).get(gpu.gpu_type), source, notes)
            for name in dict.fromkeys(m for model in planned for m in source.closure(model)):
                point, variant = planned.get(name, (None, None))
                _copy_model(source.models[name], repo, point, variant)
            http, grpc, metrics = ports(base_port, gpu.index)
            script = tmp / f"launch-gpu{gpu.index}.sh"
            models = [p.model for p in gpu.points]
            script.write_text(
                launch_script(gpu.index, f"gpu{gpu.index}", http, grpc, metrics, gpupack, models)
            )
            script.chmod(0o755)
        (tmp / "endpoints.csv").write_text(endpoints_csv(rows))
        data = plan.to_dict() | {"endpoints": [e.to_dict() for e in rows]}
        (tmp / "plan.json").write_text(json.dumps(data, indent=2) + "\n")
        if output.exists():
            output.rmdir()
        tmp.rename(output)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise cannot_write(output, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return WrittenRepositories(
        root=output,
        repositories=tuple(output / f"gpu{g.index}" for g in plan.gpus),
        launch_scripts=tuple(output / f"launch-gpu{g.index}.sh" for g in plan.gpus),
        endpoints=rows,
        notes=tuple(notes),
    )
