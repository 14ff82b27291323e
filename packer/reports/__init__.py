"""The plan report: figures drawn with matplotlib, written as one HTML file and PNGs.

``load_plan`` reads a plan (a plan JSON, or a ``--write-repositories`` directory) and the validation
beside it, if any, both through ``profiler.base.plan_dir``; ``report_data`` computes every figure's
numbers (``figures``); ``write_report`` draws them (``draw``) and writes the files (``html``).
"""

from __future__ import annotations

from pathlib import Path

from packer.reports.figures import ReportData, report_data
from packer.reports.html import WrittenReport, write_report
from profiler import InputError, PlanFile, ValidationFile, read_plan, read_validation, validation_json_path

__all__ = ["ReportData", "WrittenReport", "load_plan", "report_data", "write_report"]


def load_plan(path: Path) -> tuple[PlanFile, ValidationFile | None]:
    """The plan at ``path`` (a plan JSON, or a directory's) and the validation beside it, if any."""
    plan = read_plan(path)
    if "models" not in plan.document:
        raise InputError(f"{plan.path}: not a gpupack plan (no 'gpus' and 'models')")
    validation = validation_json_path(plan.directory)
    return plan, (read_validation(validation) if validation.exists() else None)
