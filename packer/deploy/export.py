"""`gpupack export`: a written plan as Kubernetes manifests or a compose file; a sharded profiling Job.

``ExportRequest`` is what was asked (its ``conflict`` refuses combinations that make no sense),
``export`` writes each file atomically and yields what it wrote as it goes, so that the CLI says
what was written even when a later file fails. The plan directory is read by its owner
(``profiler.read_plan``, through ``manifests.read_plan_dir``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packer.deploy.manifests import (
    DEFAULT_IMAGE,
    Volume,
    compose_file,
    kubernetes_objects,
    profile_job,
    read_plan_dir,
    to_yaml,
)
from profiler import write_atomic


@dataclass(frozen=True)
class ExportRequest:
    """What `gpupack export` was asked to write: any of three files, from a plan DIRECTORY or none."""

    directory: Path | None = None
    kubernetes: Path | None = None
    compose: Path | None = None
    kubernetes_profile_job: Path | None = None
    image: str | None = None
    volume: str | None = None
    results_volume: str | None = None
    shards: int | None = None
    profile_args: str = ""
    name_prefix: str = "gpupack"

    def conflict(self) -> str | None:
        """The first combination of options that makes no sense, in one line; ``None`` when they agree."""
        kubernetes, compose, job = self.kubernetes, self.compose, self.kubernetes_profile_job
        if not (kubernetes or compose or job):
            return "name at least one of --kubernetes, --compose and --kubernetes-profile-job"
        if (kubernetes or compose) and self.directory is None:
            return "--kubernetes and --compose export a plan: name its DIRECTORY"
        if (kubernetes or job) and not self.volume:
            return (
                "--kubernetes and --kubernetes-profile-job need --volume (pvc:CLAIM, hostpath:/PATH or image)"
            )
        if job and not (self.image and self.shards and self.results_volume):
            return "--kubernetes-profile-job needs --image, --shards and --results-volume"
        return None


@dataclass(frozen=True)
class Exported:
    """One file written: what it holds, in words, and where."""

    what: str
    path: Path


def export(request: ExportRequest) -> Iterator[Exported]:
    """Write the files ``request`` names, the profile Job first (it needs no plan).

    Yields:
        Each file, once written.

    Raises:
        InputError: a combination of options that makes no sense (``conflict``), a volume spec that
            does not parse, or a plan directory that does not read.
        OutputError: a file could not be written.

    """
    conflict = request.conflict()
    if conflict:
        from profiler import InputError

        raise InputError(conflict)
    prefix = request.name_prefix
    job = request.kubernetes_profile_job
    if job:
        manifest = profile_job(
            int(request.shards or 0), str(request.image), Volume.parse(str(request.volume)),
            Volume.parse(str(request.results_volume)), shlex.split(request.profile_args), prefix,
        )  # fmt: skip
        write_atomic(job, to_yaml([manifest]))
        yield Exported(f"an Indexed Job of {request.shards} profiling pods", job)
    if request.directory is None:
        return
    gpus = read_plan_dir(request.directory)
    image = request.image or DEFAULT_IMAGE
    if request.kubernetes:
        objects = kubernetes_objects(gpus, image, Volume.parse(str(request.volume)), prefix)
        write_atomic(request.kubernetes, to_yaml(objects))
        yield Exported(f"{len(objects)} Kubernetes objects for {len(gpus)} GPUs", request.kubernetes)
    if request.compose:
        write_atomic(request.compose, to_yaml([compose_file(gpus, image, request.directory)]))
        yield Exported(f"a compose file with {len(gpus)} services", request.compose)
