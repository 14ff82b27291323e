"""Make this fixture: a real CPU-only Model Analyzer 1.58 run of ``batched_sleeper`` (issue 21).

Reuses the setup of ``benchmarks/model_analyzer_side_by_side.py`` (nvidia-pytriton's tritonserver in
local launch mode behind a wrapper, perf_analyzer from the tritonclient 2.51 wheel, its libcudart
symlink) and profiles KIND_CPU variants (``cpu_only: true``) with ``collect_cpu_metrics`` on or off.
Run with gpupack's venv (it holds nvidia-pytriton); Model Analyzer lives in its own venv:

    .venv/bin/python tests/data/model-analyzer/cpu-only/make_fixture.py \
        --perf-analyzer <dir>/tritonclient-2.51.0.data/data/bin/perf_analyzer --work /tmp/ma-cpu
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3] / "benchmarks"))

from model_analyzer_side_by_side import MODEL, prepare  # noqa: E402

# Model Analyzer 1.58's DEFAULT_INFERENCE_OUTPUT_FIELDS (config/input/config_defaults.py).
INFERENCE_FIELDS = [
    "model_name",
    "batch_size",
    "concurrency",
    "model_config_path",
    "instance_group",
    "max_batch_size",
    "satisfies_constraints",
    "perf_throughput",
    "perf_latency_p99",
]


def main() -> None:
    """Run Model Analyzer once and copy its checkpoint and CSV exports next to this script."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-analyzer", type=Path, default=Path("/tmp/ma_venv/bin/model-analyzer"))
    p.add_argument("--perf-analyzer", type=Path, required=True, help="perf_analyzer 2.51 binary")
    p.add_argument("--work", type=Path, default=Path("/tmp/ma-cpu"))
    p.add_argument("--no-cpu-metrics", action="store_true", help="collect_cpu_metrics off")
    p.add_argument("--dest", type=Path, default=HERE)
    p.add_argument("--port", type=int, default=8000, help="the server's HTTP port; gRPC and metrics next")
    a = p.parse_args()
    prepare(a.work, 20, a.perf_analyzer.resolve())
    out = a.work / "ma"
    config = {
        "model_repository": str(a.work / "repo"),
        "output_model_repository_path": str(out / "models"),
        "override_output_model_repository": True,
        "checkpoint_directory": str(out / "checkpoints"),
        "export_path": str(out),
        "triton_launch_mode": "local",
        "triton_server_path": str(a.work / "tritonserver-wrapper"),
        "perf_analyzer_path": str(a.work / "perf_analyzer-wrapper"),
        "triton_http_endpoint": f"localhost:{a.port}",
        "triton_grpc_endpoint": f"localhost:{a.port + 1}",
        "triton_metrics_url": f"http://localhost:{a.port + 2}/metrics",
        "run_config_search_mode": "brute",
        "run_config_search_max_instance_count": 2,
        "run_config_search_min_model_batch_size": 4,
        "run_config_search_max_model_batch_size": 4,
        "run_config_search_max_concurrency": 4,
        "collect_cpu_metrics": not a.no_cpu_metrics,
        "skip_summary_reports": False,  # the summary step writes the CSV exports
        "perf_analyzer_flags": {"measurement-mode": "time_windows", "measurement-interval": 1000},
        "profile_models": {MODEL: {"cpu_only": True}},
    }
    if not a.no_cpu_metrics:  # Model Analyzer's default inference columns plus its RAM reading
        config["inference_output_fields"] = [*INFERENCE_FIELDS, "cpu_used_ram"]
    out.mkdir(parents=True)
    path = a.work / "ma.yaml"
    path.write_text(json.dumps(config, indent=2))
    cmd = ["nice", "-n", "19", str(a.model_analyzer), "profile", "-f", str(path)]
    with (a.work / "ma.log").open("w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    print(f"model-analyzer exited {rc}; log {a.work / 'ma.log'}")
    a.dest.mkdir(parents=True, exist_ok=True)
    (a.dest / "checkpoints").mkdir(exist_ok=True)
    for ckpt in (out / "checkpoints").glob("*.ckpt"):
        shutil.copy(ckpt, a.dest / "checkpoints" / ckpt.name)
    for config_pbtxt in (out / "models").glob("*/config.pbtxt"):  # the variants' configs, not the model
        (a.dest / "models" / config_pbtxt.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(config_pbtxt, a.dest / "models" / config_pbtxt.parent.name / "config.pbtxt")
    (a.dest / "results").mkdir(exist_ok=True)
    for csv in (out / "results").glob("*.csv"):
        shutil.copy(csv, a.dest / "results" / csv.name)
    shutil.copy(path, a.dest / "config.yaml")


if __name__ == "__main__":
    main()
