"""The profiler must run on the GPU host, which has no OR-Tools, no prometheus_client and no pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Every profiler module the GPU host runs: all but the CLI's option types, configuration files and
# commands (click); tests/unit/test_architecture.py checks the CLI imports no OR-Tools.
CLI_ONLY = {"profiler.base.options", "profiler.base.cli_config"}
PROFILER_MODULES = sorted(
    ".".join(p.relative_to(REPO).with_suffix("").parts)
    for p in (REPO / "profiler").rglob("*.py")
    if "examples" not in p.parts and "commands" not in p.parts and p.name != "__init__.py"
)


def test_the_profiler_imports_without_the_packer_ortools_click_or_prometheus_client():
    imports = "; ".join(f"import {name}" for name in PROFILER_MODULES if name not in CLI_ONLY)
    check = (
        f"import sys; {imports}; "
        "loaded = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(loaded & {'packer', 'ortools', 'click', 'prometheus_client', 'cli'}))"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
