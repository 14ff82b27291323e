"""The machine a benchmark ran on, as Markdown bullet lines for the results tables."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import ortools


def machine_lines() -> list[str]:
    """CPU model, cores, Python and OR-Tools versions, and today's date."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"- Machine: {cpu}, {os.cpu_count()} cores (shared with other work), Linux",
        f"- Python {platform.python_version()}, OR-Tools {ortools.__version__}",
        f"- Date: {datetime.date.today().isoformat()}",
    ]
