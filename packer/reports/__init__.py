"""The plan report: figures drawn with matplotlib, written as one HTML file and PNGs.

``load_plan`` reads a plan (a plan JSON, or a ``--write-repositories`` directory holding
``plan.json`` and perhaps ``validation.json``); ``report_data`` computes every figure's numbers
(``figures``); ``write_report`` draws them (``draw``) and writes the files (``html``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from packer.reports.figures import ReportData, report_data
from packer.reports.html import WrittenReport, write_report
from profiler import InputError

PLAN_JSON = "plan.json"
VALIDATION_JSON = "validation.json"

__all__ = ["ReportData", "WrittenReport", "load_plan", "report_data", "write_report"]


def _json(path: Path) -> Mapping:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def load_plan(path: Path) -> tuple[Mapping, Mapping | None]:
    """The plan JSON at ``path`` (a file, or a directory's plan.json) and its validation, if any."""
    plan_path = path / PLAN_JSON if path.is_dir() else path
    plan = _json(plan_path)
    if "gpus" not in plan or "models" not in plan:
        raise InputError(f"{plan_path}: not a gpupack plan (no 'gpus' and 'models')")
    validation_path = plan_path.with_name(VALIDATION_JSON)
    return plan, (_json(validation_path) if validation_path.exists() else None)
