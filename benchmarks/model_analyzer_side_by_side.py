"""gpupack's config search side by side with NVIDIA Model Analyzer 1.58 (issue 21), in one run.

Runs four searches of one model on this host, one after another, on the same tritonserver (the one
nvidia-pytriton ships), over the same space and under the same p99 bound, and writes
``benchmarks/results/model-analyzer-side-by-side/{README.md,results.csv}``:

* Model Analyzer ``brute`` and ``quick`` (``model-analyzer profile``, local launch mode, a wrapper
  script as ``triton_server_path`` that sets up the Python backend the way gpupack's launcher does,
  ``perf_analyzer`` from the tritonclient 2.51.0 wheel, ``measurement-mode time_windows``);
* gpupack ``brute`` and ``quick`` (``gpupack profile --search``, builtin load generator).

The space: instance count 1..``--max-instances``; the dynamic batcher off (the model's own config,
one instance) or on with a max queue delay of 0 us (what Model Analyzer's automatic search turns on;
it cannot search queue delays automatically, so gpupack gets ``--queue-delays-us 0``); the model's
own max_batch_size (Model Analyzer's min = max model batch size); client batch 1 (gpupack also
measures "batcher off, 2+ instances", which Model Analyzer's automatic search never builds);
concurrency 1, 2, 4, 8 (Model Analyzer: ``run_config_search_max_concurrency 8``, powers of two).
Both measure 1 s windows.

For each run it records the measurements made (perf_analyzer runs / profile points), the wall time,
and the best config's throughput with p99 within the bound, computed the same way for both tools from
what each measured (Model Analyzer's checkpoint, gpupack's profile.csv). Model Analyzer lives in its
own venv (numpy 2 / protobuf 6), given by ``--model-analyzer``.

    .venv/bin/python benchmarks/model_analyzer_side_by_side.py \
        --model-analyzer /tmp/ma_venv/bin/model-analyzer \
        --perf-analyzer <dir>/tritonclient-2.51.0.data/data/bin/perf_analyzer --work /tmp/ma-bench
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "model-analyzer-side-by-side"
MODEL = "batched_sleeper"
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
TRITON = SITE / "pytriton" / "tritonserver"
LIBS = SITE / "nvidia_pytriton.libs"


@dataclass
class Outcome:
    """One tool's one search: what it measured, how long it took, its best point under the bound."""

    tool: str
    mode: str
    measurements: int
    wall_s: float
    best_config: str
    best_concurrency: int | None
    best_throughput: float | None
    best_p99_ms: float | None
    rc: int


def _run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[int, float]:
    started = time.monotonic()
    with log.open("w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False).returncode
    return rc, time.monotonic() - started


def prepare(work: Path, service_time_ms: int, perf_analyzer: Path) -> Path:
    """A model repository with the service time set, a backend directory, and the two wrappers."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "repo").mkdir(parents=True)
    shutil.copytree(ROOT / "profiler" / "examples" / MODEL, work / "repo" / MODEL)
    cfg = work / "repo" / MODEL / "config.pbtxt"
    text = re.sub(
        r'"service_time_ms", value: \{ string_value: "\d+" \}',
        f'"service_time_ms", value: {{ string_value: "{service_time_ms}" }}',
        cfg.read_text(),
    )
    cfg.write_text(text)
    # The Python backend stub for this Python, beside the backend (profiler/server/install.py does this).
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    shutil.copytree(TRITON / "backends" / "python", work / "backends" / "python")
    shutil.copy(
        TRITON / "python_backend_stubs" / version / "triton_python_backend_stub", work / "backends" / "python"
    )
    # perf_analyzer 2.51 links libcudart.so.12: the one nvidia-pytriton ships does.
    (work / "lib").mkdir()
    cudart = next(LIBS.glob("libcudart-*.so.12*"))
    (work / "lib" / "libcudart.so.12").symlink_to(cudart)
    server = work / "tritonserver-wrapper"
    server.write_text(
        "#!/bin/sh\n"
        "# As gpupack's launcher: the numpy<2 Python first on PATH (the stub takes sys.path from it),\n"
        "# the wheel's libraries on LD_LIBRARY_PATH, the backend directory with the stub.\n"
        f'export PATH="{Path(sys.executable).parent}:$PATH"\n'
        f'export LD_LIBRARY_PATH="{LIBS}:${{LD_LIBRARY_PATH:-}}"\n'
        f'exec {TRITON / "bin" / "tritonserver"} --backend-directory={work / "backends"} "$@"\n'
    )
    pa = work / "perf_analyzer-wrapper"
    pa.write_text(
        "#!/bin/sh\n"
        f'export LD_LIBRARY_PATH="{work / "lib"}:${{LD_LIBRARY_PATH:-}}"\n'
        f'exec {perf_analyzer} "$@"\n'
    )
    server.chmod(0o755)
    pa.chmod(0o755)
    return cfg


def ma_config(work: Path, mode: str, a: argparse.Namespace) -> Path:
    """Model Analyzer's profile config for one search mode (YAML written as JSON, a subset of YAML)."""
    out = work / f"ma-{mode}"
    cfg = {
        "model_repository": str(work / "repo"),
        "output_model_repository_path": str(out / "models"),
        "override_output_model_repository": True,
        "checkpoint_directory": str(out / "ckpt"),
        "export_path": str(out / "export"),
        "triton_launch_mode": "local",
        "triton_server_path": str(work / "tritonserver-wrapper"),
        "perf_analyzer_path": str(work / "perf_analyzer-wrapper"),
        "run_config_search_mode": mode,
        "run_config_search_max_instance_count": a.max_instances,
        "run_config_search_min_model_batch_size": a.max_batch_size,
        "run_config_search_max_model_batch_size": a.max_batch_size,
        "run_config_search_max_concurrency": max(a.concurrency),
        "collect_cpu_metrics": True,
        "skip_summary_reports": True,
        "perf_analyzer_flags": {
            "measurement-mode": "time_windows",
            "measurement-interval": int(a.window * 1000),
        },
        "profile_models": {MODEL: {"cpu_only": True, "constraints": {"perf_latency_p99": {"max": a.p99_ms}}}},
    }
    out.mkdir(parents=True)
    path = work / f"ma-{mode}.yaml"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def _ma_variant(model_config: dict) -> str:
    count = sum(int(g.get("count", 1)) for g in model_config.get("instanceGroup", [])) or 1
    batcher = "dynamic batching" if "dynamicBatching" in model_config else "no batcher"
    delay = model_config.get("dynamicBatching", {}).get("maxQueueDelayMicroseconds")
    delay_text = f" (queue delay {delay} us)" if delay else ""
    return f"{count} instance(s), {batcher}{delay_text}, max batch {model_config.get('maxBatchSize')}"


def ma_outcome(work: Path, mode: str, rc: int, wall: float, p99_ms: float) -> Outcome:
    """Measurements and best point under the bound, from Model Analyzer's checkpoint."""
    best: tuple[float, str, int, float] | None = None
    count = 0
    ckpt = work / f"ma-{mode}" / "ckpt" / "0.ckpt"
    if ckpt.is_file():
        results = json.loads(ckpt.read_text())["ResultManager.results"]["_results"].get(MODEL, {})
        for name, (run_config, measurements) in results.items():
            variant = _ma_variant(
                run_config["_model_run_configs"][0]["_model_config_variant"]["model_config"]
            )
            for m in measurements.values():
                count += 1
                mc = m["_model_config_measurements"][0]
                data = dict((k, v["_value"]) for k, v in mc["_non_gpu_data"])
                conc = mc["_model_specific_pa_params"]["concurrency-range"]
                if data["perf_latency_p99"] <= p99_ms and (best is None or data["perf_throughput"] > best[0]):
                    best = (data["perf_throughput"], f"{name}: {variant}", conc, data["perf_latency_p99"])
    return _outcome("Model Analyzer 1.58", mode, count, wall, best, rc)


def gpupack_outcome(out: Path, mode: str, rc: int, wall: float, p99_ms: float) -> Outcome:
    """Measurements and best point under the bound, from gpupack's profile.csv."""
    best: tuple[float, str, int, float] | None = None
    count = 0
    path = out / "profile.csv"
    rows = list(csv.DictReader(path.open())) if path.is_file() else []
    for r in rows:
        if r["error"] or not r["throughput_infer_per_sec"]:
            continue
        count += 1
        tput, p99 = float(r["throughput_infer_per_sec"]), float(r["latency_p99_ms"])
        batcher = (
            f"dynamic batching (queue delay {r['max_queue_delay_us']} us)"
            if r["dynamic_batching"] == "true"
            else "no batcher"
        )
        variant = (
            f"{r['variant']}: {r['instance_count']} instance(s), {batcher}, max batch {r['max_batch_size']}"
        )
        if p99 <= p99_ms and (best is None or tput > best[0]):
            best = (tput, variant, int(r["concurrency"]), p99)
    return _outcome("gpupack", mode, count, wall, best, rc)


def _outcome(tool: str, mode: str, count: int, wall: float, best: tuple | None, rc: int) -> Outcome:
    if best is None:
        return Outcome(tool, mode, count, round(wall, 1), "none under the bound", None, None, None, rc)
    return Outcome(
        tool, mode, count, round(wall, 1), best[1], best[2], round(best[0], 2), round(best[3], 1), rc
    )


def run_ma(work: Path, mode: str, a: argparse.Namespace) -> Outcome:
    """One Model Analyzer search."""
    cfg = ma_config(work, mode, a)
    cmd = ["nice", "-n", str(a.nice), str(a.model_analyzer), "profile", "-f", str(cfg)]
    rc, wall = _run(cmd, work / f"ma-{mode}.log")
    return ma_outcome(work, mode, rc, wall, a.p99_ms)


def run_gpupack(work: Path, mode: str, a: argparse.Namespace) -> Outcome:
    """One gpupack search, through its command line."""
    targets = work / "targets.yaml"
    targets.write_text(f"{MODEL}: {{throughput: 1, max_latency_p99_ms: {a.p99_ms}}}\n")
    out = work / f"gpupack-{mode}"
    gpupack = Path(sys.executable).parent / "gpupack"
    cmd = [
        "nice", "-n", str(a.nice), str(gpupack), "profile", "--search", mode,
        "--model-repository", str(work / "repo"), "--models", MODEL, "--batch", "1",
        "--concurrency", ",".join(map(str, a.concurrency)), "--max-instances", str(a.max_instances),
        "--queue-delays-us", "0", "--targets", str(targets), "--window", str(a.window),
        "--warmup", str(a.warmup), "--max-windows", str(a.max_windows), "--no-reload-per-batch",
        "--output", str(out),
    ]  # fmt: skip
    rc, wall = _run(cmd, work / f"gpupack-{mode}.log")
    return gpupack_outcome(out, mode, rc, wall, a.p99_ms)


def _ratio(x: float | None, y: float | None) -> str:
    return f"{x / y:.2f}" if x and y else "n/a"


def write_results(outcomes: list[Outcome], a: argparse.Namespace, host: dict[str, str]) -> None:
    """results.csv and README.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    fields = list(Outcome.__dataclass_fields__)
    with (RESULTS / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for o in outcomes:
            w.writerow(o.__dict__)
    by = {(o.tool.split()[0], o.mode): o for o in outcomes}
    gq, gb, mq, mb = (
        by[("gpupack", "quick")],
        by[("gpupack", "brute")],
        by[("Model", "quick")],
        by[("Model", "brute")],
    )
    lines = [
        "| tool | mode | measurements | wall time (s) | best config under the bound | concurrency |"
        " throughput (infer/s) | p99 (ms) | exit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.tool} | {o.mode} | {o.measurements} | {o.wall_s} | {o.best_config} |"
            f" {o.best_concurrency} | {o.best_throughput} | {o.best_p99_ms} | {o.rc} |"
        )
    ratios = [
        f"- gpupack quick / Model Analyzer quick wall time: {_ratio(gq.wall_s, mq.wall_s)} (goal <= 0.5)",
        "- gpupack quick best / gpupack brute best throughput:"
        f" {_ratio(gq.best_throughput, gb.best_throughput)} (goal >= 0.95)",
        f"- gpupack quick best / Model Analyzer brute best: {_ratio(gq.best_throughput, mb.best_throughput)}",
        "- Model Analyzer quick best / Model Analyzer brute best:"
        f" {_ratio(mq.best_throughput, mb.best_throughput)}",
        f"- gpupack brute / Model Analyzer brute wall time: {_ratio(gb.wall_s, mb.wall_s)}",
    ]
    (RESULTS / "README.md").write_text(
        _README.format(
            table="\n".join(lines),
            ratios="\n".join(ratios),
            command=" ".join(sys.argv),
            args=json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}),
            **host,
        )
    )


_README = """# gpupack's config search side by side with Model Analyzer 1.58 (issue 21)

Written by `benchmarks/model_analyzer_side_by_side.py` (one run of all four searches, in the order
of the table), on {date}, on this 2-core CPU host ({platform}), which other jobs share: load average
{uptime_before} before the run, {uptime_after} after it. Every search ran at `nice -n {nice}`.

    {command}

Options: `{args}`

Model: `profiler/examples/batched_sleeper` with `service_time_ms` {service} (a fixed service time per
execute call, max_batch_size 4), on nvidia-pytriton's tritonserver 2.51 (Python backend), both tools
in local launch mode. Same space on both sides: instance count 1..{max_instances}, the dynamic batcher
off (the model's own config) or on with max queue delay 0 us (Model Analyzer's automatic search
turns it on with no delay and cannot search delays, so gpupack searched `--queue-delays-us 0`),
max_batch_size {max_batch_size} only (gpupack's space also holds "batcher off, 2+ instances", which
Model Analyzer's automatic search never builds: it turns the batcher on in every variant but its
default config), client batch 1, concurrency {concurrency}, 1 s measurement windows
(Model Analyzer: perf_analyzer `--measurement-mode time_windows --measurement-interval 1000`,
perf_analyzer's own stability rule; gpupack: builtin generator, `--window 1 --warmup {warmup}
--max-windows {max_windows}`), p99 bound {p99} ms (Model Analyzer: `constraints: perf_latency_p99`;
gpupack: `--targets` with `max_latency_p99_ms`). "Measurements": Model Analyzer's perf_analyzer runs
(checkpoint entries), gpupack's profile points. "Best": the highest throughput among the measured
points with p99 within the bound, computed the same way from each tool's own records (Model
Analyzer's checkpoint, gpupack's profile.csv). Model Analyzer's `perf_analyzer` is the 2.51.0
binary from the tritonclient wheel (as `.ci/run` gets it); Model Analyzer runs in its own venv.

{table}

{ratios}

Logs, configs and raw records stayed in the work folder (`--work`), not committed. One run on a
shared, loaded host: wall times move with the load (see above), and a single run carries no error bar.
"""


def main() -> None:
    """Parse the options, run the four searches, write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-analyzer", type=Path, default=Path("/tmp/ma_venv/bin/model-analyzer"))
    p.add_argument("--perf-analyzer", type=Path, required=True, help="perf_analyzer 2.51 binary")
    p.add_argument("--work", type=Path, default=Path("/tmp/ma-bench"))
    p.add_argument("--service-time-ms", type=int, default=100)
    p.add_argument("--p99-ms", type=float, default=150.0)
    p.add_argument("--max-instances", type=int, default=2)
    p.add_argument("--max-batch-size", type=int, default=4)
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8])
    p.add_argument("--window", type=float, default=1.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--max-windows", type=int, default=6)
    p.add_argument("--nice", type=int, default=19)
    p.add_argument("--only", default="ma-brute,ma-quick,gpupack-brute,gpupack-quick")
    a = p.parse_args()
    prepare(a.work, a.service_time_ms, a.perf_analyzer.resolve())
    uptime_before = os.getloadavg()
    outcomes = []
    for job in a.only.split(","):
        tool, mode = job.split("-")
        outcome = (run_ma if tool == "ma" else run_gpupack)(a.work, mode, a)
        print(json.dumps(outcome.__dict__), flush=True)
        outcomes.append(outcome)
    host = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "platform": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "uptime_before": ", ".join(f"{x:.2f}" for x in uptime_before),
        "uptime_after": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "nice": str(a.nice),
        "service": str(a.service_time_ms),
        "max_instances": str(a.max_instances),
        "max_batch_size": str(a.max_batch_size),
        "concurrency": ", ".join(map(str, a.concurrency)),
        "warmup": str(a.warmup),
        "max_windows": str(a.max_windows),
        "p99": f"{a.p99_ms:g}",
    }
    if len(outcomes) == 4:
        write_results(outcomes, a, host)


if __name__ == "__main__":
    main()
