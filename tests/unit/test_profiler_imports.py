"""The profiler must run on the GPU host, which has no OR-Tools, no prometheus_client and no pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROFILER_MODULES = (
    "inputs launcher loadgen metrics nvml perf_analyzer procfs profile_io report request run sampler "
    "schema server_install stats sweep triton serving server_log server_ports signals plan_file validate "
    "validate_gpus validation validation_report"
).split()


def test_the_profiler_imports_without_the_packer_ortools_click_or_prometheus_client():
    imports = "; ".join(f"import profiler.{name}" for name in PROFILER_MODULES)
    check = (
        f"import sys; {imports}; "
        "loaded = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(loaded & {'packer', 'ortools', 'click', 'prometheus_client', 'cli'}))"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
