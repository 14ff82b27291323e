"""The plan report: figures drawn with matplotlib, written as one HTML file and PNGs.

``load_plan`` reads a plan (a plan JSON, or a ``--write-repositories`` directory) and the validation
beside it (or one named), both through their owners in ``profiler.base``; ``report_data`` computes
every figure's numbers (``figures``, with ``fleet`` and ``validation``); ``write_report`` draws them
(``draw``, ``draw_fleet``, ``draw_validation``) and writes the files (``html``).
"""

from __future__ import annotations

from pathlib import Path

from packer.reports.figures import ReportData, report_data
from packer.reports.html import WrittenReport, write_report
from profiler import InputError, PlanFile, ValidationFile, read_plan, read_validation, validation_json_path

__all__ = ["ReportData", "WrittenReport", "load_plan", "report_data", "write_report"]


def load_plan(path: Path, validation: Path | None = None) -> tuple[PlanFile, ValidationFile | None]:
    """The plan at ``path`` (a plan JSON, or a directory's) and its validation, if any.

    The validation is ``validation`` where given, else the validation.json beside the plan.
    """
    plan = read_plan(path)
    if "models" not in plan.document:
        raise InputError(f"{plan.path}: not a gpupack plan (no 'gpus' and 'models')")
    if validation is not None:
        return plan, read_validation(validation)
    beside = validation_json_path(plan.directory)
    return plan, (read_validation(beside) if beside.exists() else None)
