"""`gpupack report`: a plan (JSON or written directory) → ``packer.service.run_report`` → the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from profiler import FILE, PATH, GpupackCommand

if TYPE_CHECKING:
    from packer.reports import WrittenReport


def wrote_report(written: WrittenReport) -> str:
    """The line saying where a report and its figures went (plan --report, report)."""
    folder = written.images[0].parent if written.images else ""
    return f"wrote the report {written.html} and its {len(written.images)} figures to {folder}"


@click.command(cls=GpupackCommand)
@click.argument("plan_path", metavar="PLAN", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=FILE,
    default="report.html",
    show_default=True,
    help="The HTML file to write; its PNGs go to OUTPUT_files/ beside it.",
)
@click.option(
    "--profiles",
    type=PATH,
    help="The profile the plan was made from.  [default: the one the plan's settings record, else the "
    "built-in example]",
)
@click.option(
    "--fleet",
    type=FILE,
    help="The fleet file the plan was made from, for a mixed-fleet plan.  [default: the plan's settings]",
)
@click.option(
    "--validation",
    type=FILE,
    help="A validation.json written by `gpupack validate` for this plan, to draw.  [default: the one "
    "beside the plan, if any]",
)
def report(
    plan_path: Path, output: Path, profiles: Path | None, fleet: Path | None, validation: Path | None
) -> None:
    """Draw the HTML report of a plan: PLAN is a plan JSON or a --write-repositories directory.

    Figures: the plan against its lower bound; the fleet (every GPU's memory and utilizations, sorted,
    and how many GPUs are how full); each model's profiled points (throughput against p99 latency)
    with the chosen point marked; each GPU's memory, GPU utilization and memory-controller utilization
    stacked by model against the limits (up to 32 GPUs, 64 models: above, the fleet figure stands
    for them); and where a validation (validation.json beside the plan, or --validation) exists,
    measured against promised throughput per model and per GPU, with the min-ratio line and the short
    ones marked, and each GPU's peak memory against the planned.
    """
    from packer.service import ReportRequest, run_report

    request = ReportRequest(
        plan=plan_path, output=output, profiles=profiles, fleet=fleet, validation=validation
    )
    written = run_report(request)
    click.echo(wrote_report(written))
