"""gpupack's config search side by side with NVIDIA Model Analyzer 1.58 (issue 21), in one run.

Runs four searches of the same models on this host, one after another, on the same tritonserver (the
one nvidia-pytriton ships), over the same space and under the same p99 bound, and writes
``benchmarks/results/model-analyzer-side-by-side/{README.md,results.csv}`` (``--name`` puts them in a
subfolder):

* Model Analyzer ``brute`` and ``quick`` (``model-analyzer profile``, local launch mode, a wrapper
  script as ``triton_server_path`` that sets up the Python backend the way gpupack's launcher does,
  ``perf_analyzer`` from the tritonclient 2.51.0 wheel, ``measurement-mode time_windows``);
* gpupack ``brute`` and ``quick`` (``gpupack profile --search``, builtin load generator).

The space, per model: instance count 1..``--max-instances``; the dynamic batcher off (the model's own
config, one instance) or on with each max queue delay of ``--queue-delays-us``; max_batch_size
``--max-batch-size`` only; client batch 1; concurrency ``--concurrency``. Model Analyzer's automatic
search turns the batcher on with no delay and cannot search delays; its quick mode refuses a space
of more than one combination of model config parameters. So with only delay 0, both of its modes
search automatically; with other delays its brute mode searches them manually
(``model_config_parameters``: the instance counts x the delays, and the concurrencies listed, beside
its default config) while its quick mode searches its automatic space (delay 0 only: a subset, which
can only make it faster). gpupack also measures "batcher off, 2+ instances", which Model Analyzer
builds in neither mode: gpupack's space is the larger one.

For each run it records the measurements made (perf_analyzer runs / profile points), the wall time,
and each model's best config: its throughput with p99 within the bound, computed the same way for
both tools from what each measured (Model Analyzer's checkpoint, gpupack's profile.csv). Model
Analyzer lives in its own venv (numpy 2 / protobuf 6), given by ``--model-analyzer``.

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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "model-analyzer-side-by-side"
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
TRITON = SITE / "pytriton" / "tritonserver"
LIBS = SITE / "nvidia_pytriton.libs"
# perf_analyzer's own defaults, which Model Analyzer leaves as they are: a measurement is stable when
# 3 consecutive windows agree within this % (throughput and latency), after at most this many windows.
PA_STABILITY_PCT = 10
PA_MAX_TRIALS = 10


@dataclass
class Best:
    """One model's best point under the bound in one search."""

    config: str = "none under the bound"
    concurrency: int | None = None
    throughput: float | None = None
    p99_ms: float | None = None


@dataclass
class Outcome:
    """One tool's one search: what it measured (per model), how long it took, each model's best."""

    tool: str
    mode: str
    wall_s: float
    rc: int
    load_before: str
    measurements: dict[str, int] = field(default_factory=dict)
    best: dict[str, Best] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Measurements over every model."""
        return sum(self.measurements.values())


def _run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[int, float]:
    started = time.monotonic()
    with log.open("w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False).returncode
    return rc, time.monotonic() - started


def _set_parameter(text: str, key: str, value: str) -> str:
    return re.sub(
        rf'"{key}", value: \{{ string_value: "\d+" \}}',
        f'"{key}", value: {{ string_value: "{value}" }}',
        text,
    )


def prepare(work: Path, models: dict[str, int], max_batch_size: int, perf_analyzer: Path) -> None:
    """A model repository (service times and max_batch_size set), a backend directory, two wrappers."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "repo").mkdir(parents=True)
    for model, service_ms in models.items():
        shutil.copytree(ROOT / "profiler" / "examples" / model, work / "repo" / model)
        cfg = work / "repo" / model / "config.pbtxt"
        text = _set_parameter(cfg.read_text(), "service_time_ms", str(service_ms))
        cfg.write_text(re.sub(r"(?m)^max_batch_size: \d+$", f"max_batch_size: {max_batch_size}", text))
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


def _manual(a: argparse.Namespace, mode: str) -> bool:
    """Model Analyzer's brute mode searches the delays manually when there is more than delay 0."""
    return mode == "brute" and a.queue_delays_us != [0]


def _ma_model(a: argparse.Namespace, mode: str) -> dict:
    entry: dict = {"cpu_only": True, "constraints": {"perf_latency_p99": {"max": a.p99_ms}}}
    if _manual(a, mode):
        entry["model_config_parameters"] = {
            "max_batch_size": [a.max_batch_size],
            "dynamic_batching": {"max_queue_delay_microseconds": a.queue_delays_us},
            "instance_group": [[{"kind": "KIND_CPU", "count": list(range(1, a.max_instances + 1))}]],
        }
        entry["parameters"] = {"concurrency": a.concurrency}
    return entry


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
        "profile_models": {model: _ma_model(a, mode) for model in a.models},
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


def _better(best: Best, name: str, conc: int, tput: float, p99: float, bound: float) -> Best:
    if p99 <= bound and (best.throughput is None or tput > best.throughput):
        return Best(name, conc, round(tput, 2), round(p99, 1))
    return best


def ma_outcome(work: Path, mode: str, outcome: Outcome, a: argparse.Namespace) -> Outcome:
    """Measurements and best point under the bound per model, from Model Analyzer's checkpoint."""
    ckpt = work / f"ma-{mode}" / "ckpt" / "0.ckpt"
    results = json.loads(ckpt.read_text())["ResultManager.results"]["_results"] if ckpt.is_file() else {}
    for model in a.models:
        best, count = Best(), 0
        for name, (run_config, measurements) in results.get(model, {}).items():
            variant = _ma_variant(
                run_config["_model_run_configs"][0]["_model_config_variant"]["model_config"]
            )
            for m in measurements.values():
                count += 1
                mc = m["_model_config_measurements"][0]
                data = dict((k, v["_value"]) for k, v in mc["_non_gpu_data"])
                conc = mc["_model_specific_pa_params"]["concurrency-range"]
                best = _better(
                    best,
                    f"{name}: {variant}",
                    conc,
                    data["perf_throughput"],
                    data["perf_latency_p99"],
                    a.p99_ms,
                )
        outcome.measurements[model], outcome.best[model] = count, best
    return outcome


def gpupack_outcome(out: Path, outcome: Outcome, a: argparse.Namespace) -> Outcome:
    """Measurements and best point under the bound per model, from gpupack's profile.csv."""
    path = out / "profile.csv"
    rows = list(csv.DictReader(path.open())) if path.is_file() else []
    for model in a.models:
        best, count = Best(), 0
        for r in rows:
            if r["model"] != model or r["error"] or not r["throughput_infer_per_sec"]:
                continue
            count += 1
            batcher = (
                f"dynamic batching (queue delay {r['max_queue_delay_us']} us)"
                if r["dynamic_batching"] == "true"
                else "no batcher"
            )
            instances, max_batch = r["instance_count"], r["max_batch_size"]
            name = f"{r['variant']}: {instances} instance(s), {batcher}, max batch {max_batch}"
            tput, p99 = float(r["throughput_infer_per_sec"]), float(r["latency_p99_ms"])
            best = _better(best, name, int(r["concurrency"]), tput, p99, a.p99_ms)
        outcome.measurements[model], outcome.best[model] = count, best
    return outcome


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _nice(a: argparse.Namespace) -> list[str]:
    return ["nice", "-n", str(a.nice)] if a.nice else []


def run_ma(work: Path, mode: str, a: argparse.Namespace) -> Outcome:
    """One Model Analyzer search."""
    cfg = ma_config(work, mode, a)
    load = _load()
    rc, wall = _run([*_nice(a), str(a.model_analyzer), "profile", "-f", str(cfg)], work / f"ma-{mode}.log")
    return ma_outcome(work, mode, Outcome("Model Analyzer 1.58", mode, round(wall, 1), rc, load), a)


def run_gpupack(work: Path, mode: str, a: argparse.Namespace) -> Outcome:
    """One gpupack search, through its command line."""
    targets = work / "targets.yaml"
    targets.write_text(
        "".join(f"{model}: {{throughput: 1, max_latency_p99_ms: {a.p99_ms}}}\n" for model in a.models)
    )
    out = work / f"gpupack-{mode}"
    gpupack = Path(sys.executable).parent / "gpupack"
    cmd = [
        *_nice(a), str(gpupack), "profile", "--search", mode,
        "--model-repository", str(work / "repo"), "--models", ",".join(a.models), "--batch", "1",
        "--concurrency", ",".join(map(str, a.concurrency)), "--max-instances", str(a.max_instances),
        "--queue-delays-us", ",".join(map(str, a.queue_delays_us)), "--targets", str(targets),
        "--window", str(a.window), "--warmup", str(a.warmup), "--max-windows", str(a.max_windows),
        "--no-reload-per-batch", "--output", str(out),
    ]  # fmt: skip
    load = _load()
    rc, wall = _run(cmd, work / f"gpupack-{mode}.log")
    return gpupack_outcome(out, Outcome("gpupack", mode, round(wall, 1), rc, load), a)


def _ratio(x: float | None, y: float | None) -> str:
    return f"{x / y:.2f}" if x and y else "n/a"


def write_results(outcomes: list[Outcome], a: argparse.Namespace, host: dict[str, str]) -> None:
    """results.csv (a row per search and model) and README.md."""
    folder = RESULTS / a.name if a.name else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    fields = ["tool", "mode", "wall_s", "load_before", "rc", "model", "measurements", "best_config"]
    fields += ["best_concurrency", "best_throughput", "best_p99_ms"]
    with (folder / "results.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for o in outcomes:
            for model in a.models:
                b = o.best[model]
                w.writerow(
                    [o.tool, o.mode, o.wall_s, o.load_before, o.rc, model, o.measurements[model]]
                    + [b.config, b.concurrency, b.throughput, b.p99_ms]
                )
    by = {(o.tool.split()[0], o.mode): o for o in outcomes}
    gq, gb, mq, mb = (
        by[("gpupack", "quick")],
        by[("gpupack", "brute")],
        by[("Model", "quick")],
        by[("Model", "brute")],
    )
    searches = [
        "| tool | mode | measurements | wall time (s) | load average (1 min) before | exit |",
        "|---|---|---|---|---|---|",
    ]
    searches += [
        f"| {o.tool} | {o.mode} | {o.total} | {o.wall_s} | {o.load_before.split(',')[0]} | {o.rc} |"
        for o in outcomes
    ]
    bests = [
        "| model | tool | mode | measurements | best config under the bound | concurrency |"
        " throughput (infer/s) | p99 (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in a.models:
        for o in outcomes:
            b = o.best[model]
            bests.append(
                f"| {model} | {o.tool} | {o.mode} | {o.measurements[model]} | {b.config} | {b.concurrency} |"
                f" {b.throughput} | {b.p99_ms} |"
            )
    ratios = [
        f"- gpupack quick / Model Analyzer quick wall time: {_ratio(gq.wall_s, mq.wall_s)} (goal <= 0.5)",
        f"- gpupack brute / Model Analyzer brute wall time: {_ratio(gb.wall_s, mb.wall_s)}",
        f"- gpupack quick / gpupack brute wall time: {_ratio(gq.wall_s, gb.wall_s)}",
    ]
    for model in a.models:
        q, b = gq.best[model].throughput, gb.best[model].throughput
        ratios.append(
            f"- {model}: gpupack quick best / gpupack brute best {_ratio(q, b)} (goal >= 0.95);"
            f" / Model Analyzer brute best {_ratio(q, mb.best[model].throughput)};"
            f" Model Analyzer quick best / its brute best"
            f" {_ratio(mq.best[model].throughput, mb.best[model].throughput)}"
        )
    (folder / "README.md").write_text(
        _README.format(
            searches="\n".join(searches),
            bests="\n".join(bests),
            ratios="\n".join(ratios),
            command=" ".join(sys.argv),
            args=json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}),
            **host,
        )
    )


_README = """# gpupack's config search side by side with Model Analyzer 1.58 (issue 21)

Written by `benchmarks/model_analyzer_side_by_side.py` (one run of all four searches, in the order
of the table), on {date}, on this 2-core CPU host ({platform}), which other jobs share: load average
{uptime_before} before the run, {uptime_after} after it. Every search ran at {priority}.

    {command}

Options: `{args}`

Models: {models} from `profiler/examples` (a fixed service time per execute call for
batched_sleeper, per request for sleepy), max_batch_size {max_batch_size}, on nvidia-pytriton's
tritonserver 2.51 (Python backend), both tools in local launch mode. Space per model: instance count
1..{max_instances}; the dynamic batcher off (the model's own config) or on with max queue delay(s)
{delays} us; client batch 1; concurrency {concurrency}; p99 bound {p99} ms (Model Analyzer:
`constraints: perf_latency_p99`; gpupack: `--targets` with `max_latency_p99_ms`). {space_note}

Measurement rules. Model Analyzer: perf_analyzer `--measurement-mode time_windows
--measurement-interval {window_ms}`, no warm-up, stable when 3 consecutive windows agree within
±{pa_stability} % on throughput and latency (perf_analyzer's defaults, which Model Analyzer keeps),
at most {pa_trials} windows; Model Analyzer restarts the server for each config. gpupack: builtin
generator, a {warmup} s warm-up (and until every request in flight has had a response), then {window}
s windows, stable when 3 consecutive windows' throughputs agree within ±10 %, at most {max_windows}
windows; one server, variants loaded and unloaded through its model control API. "Measurements":
Model Analyzer's perf_analyzer runs (checkpoint entries), gpupack's profile points. "Best": the
highest throughput among the measured points with p99 within the bound, computed the same way from
each tool's own records (Model Analyzer's checkpoint, gpupack's profile.csv). Model Analyzer's
`perf_analyzer` is the 2.51.0 binary from the tritonclient wheel; Model Analyzer runs in its own venv.

{searches}

{bests}

{ratios}

Logs, configs and raw records stayed in the work folder (`--work`), not committed. One run on a
shared, loaded host: wall times move with the load (see above), and a single run carries no error bar.
"""


def _space_note(a: argparse.Namespace) -> str:
    if a.queue_delays_us == [0]:
        return (
            "Both Model Analyzer modes search automatically (the batcher on with no delay, which is all"
            " its automatic search builds); gpupack also searches the batcher off with 2+ instances."
        )
    return (
        "Model Analyzer brute searched the delays manually (`model_config_parameters`: instance counts x"
        " delays with the batcher on, the concurrencies listed) beside its default config; Model Analyzer"
        " quick cannot search more than one combination of config parameters (it refuses them), so it"
        " searched its automatic space, delay 0 only: a subset of the others'. gpupack also searches the"
        " batcher off with 2+ instances, which Model Analyzer builds in neither mode."
    )


def _models(text: str) -> dict[str, int]:
    out = {}
    for item in text.split(","):
        name, _, service = item.partition(":")
        out[name] = int(service or 100)
    return out


def main() -> None:
    """Parse the options, run the four searches, write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-analyzer", type=Path, default=Path("/tmp/ma_venv/bin/model-analyzer"))
    p.add_argument("--perf-analyzer", type=Path, required=True, help="perf_analyzer 2.51 binary")
    p.add_argument("--work", type=Path, default=Path("/tmp/ma-bench"))
    p.add_argument(
        "--name", default="", help="results in this subfolder of results/model-analyzer-side-by-side"
    )
    p.add_argument(
        "--models", type=_models, default=_models("batched_sleeper:100"), help="NAME:SERVICE_MS,..."
    )
    p.add_argument("--p99-ms", type=float, default=150.0)
    p.add_argument("--max-instances", type=int, default=2)
    p.add_argument("--max-batch-size", type=int, default=4)
    p.add_argument("--queue-delays-us", type=lambda s: [int(x) for x in s.split(",")], default=[0])
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8])
    p.add_argument("--window", type=float, default=1.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--max-windows", type=int, default=PA_MAX_TRIALS)
    p.add_argument("--nice", type=int, default=0)
    p.add_argument("--only", default="ma-brute,ma-quick,gpupack-brute,gpupack-quick")
    a = p.parse_args()
    services, a.models = a.models, list(a.models)
    prepare(a.work, services, a.max_batch_size, a.perf_analyzer.resolve())
    uptime_before = _load()
    outcomes = []
    for job in a.only.split(","):
        tool, mode = job.split("-")
        outcome = (run_ma if tool == "ma" else run_gpupack)(a.work, mode, a)
        print(json.dumps(outcome, default=lambda o: o.__dict__), flush=True)
        outcomes.append(outcome)
    host = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "platform": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "uptime_before": uptime_before,
        "uptime_after": _load(),
        "priority": f"`nice -n {a.nice}`" if a.nice else "normal priority (nice 0)",
        "models": ", ".join(f"`{m}` (service_time_ms {services[m]})" for m in a.models),
        "max_instances": str(a.max_instances),
        "max_batch_size": str(a.max_batch_size),
        "delays": ", ".join(map(str, a.queue_delays_us)),
        "concurrency": ", ".join(map(str, a.concurrency)),
        "warmup": str(a.warmup),
        "window": f"{a.window:g}",
        "window_ms": str(int(a.window * 1000)),
        "max_windows": str(a.max_windows),
        "pa_stability": str(PA_STABILITY_PCT),
        "pa_trials": str(PA_MAX_TRIALS),
        "p99": f"{a.p99_ms:g}",
        "space_note": _space_note(a),
    }
    if len(outcomes) == 4:
        write_results(outcomes, a, host)


if __name__ == "__main__":
    main()
