"""`gpupack export`: options → ``ExportRequest`` (checked) → ``packer.deploy.export.export``."""

from __future__ import annotations

from pathlib import Path

import click

from profiler import FILE, GpupackCommand


@click.command(cls=GpupackCommand)
@click.argument("directory", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--kubernetes",
    type=FILE,
    metavar="FILE",
    help="Write Kubernetes manifests of DIRECTORY's plan (multi-document YAML): a Deployment and a "
    "Service per planned GPU.",
)
@click.option(
    "--compose",
    type=FILE,
    metavar="FILE",
    help="Write a docker compose file of DIRECTORY's plan for one multi-GPU host: a service per GPU.",
)
@click.option(
    "--kubernetes-profile-job",
    type=FILE,
    metavar="FILE",
    help="Write an Indexed Job that profiles --shards shards of the model repository in parallel, one "
    "GPU per pod (pod I runs `gpupack profile --shard I/N`); no DIRECTORY needed. Then "
    "`gpupack profile merge` joins /results/shard-*.",
)
@click.option(
    "--image",
    default=None,
    help="Container image: tritonserver for a plan [nvcr.io/nvidia/tritonserver:24.10-py3]; for the "
    "profile job, an image with gpupack and its server installed (required).",
)
@click.option(
    "--volume",
    metavar="SPEC",
    help="Where pods find DIRECTORY (a plan) or the model repository (profile job): pvc:CLAIM, "
    "hostpath:/PATH (on every GPU node) or image (baked into --image at /models).",
)
@click.option(
    "--results-volume",
    metavar="SPEC",
    help="Profile job: where the shard profiles go (pvc:CLAIM or hostpath:/PATH), at /results.",
)
@click.option(
    "--shards", type=click.IntRange(min=1, max=1000), default=None, help="Profile job: pods, one GPU each."
)
@click.option(
    "--profile-args",
    default="",
    metavar="ARGS",
    help='Profile job: more `gpupack profile` options, e.g. "--batch 1,4,8 --concurrency 1,4".',
)
@click.option(
    "--name-prefix",
    default="gpupack",
    show_default=True,
    help="Kubernetes object names: PREFIX-gpuN, PREFIX-profile.",
)
def export(**opts: object) -> None:
    """Export a written plan (DIRECTORY) for Kubernetes or compose, or a sharded profiling Job."""
    from packer.deploy.export import ExportRequest
    from packer.deploy.export import export as run_export

    request = ExportRequest(**opts)  # type: ignore[arg-type]
    conflict = request.conflict()
    if conflict:
        raise click.UsageError(conflict)
    for written in run_export(request):
        click.echo(f"wrote {written.what} to {written.path}")
