"""Profile models with gpupack's built-in load generator and with perf_analyzer, then compare them.

gpu_profile.sh prepares the environment and calls this twice (``run``) and once (``compare``):

    python benchmarks/gpu_profile.py run --generator builtin --out OUT --model-repository DIR --models a,b ...
    python benchmarks/gpu_profile.py compare --out OUT

It calls the profiler's functions directly rather than ``gpupack profile``, so that it needs neither an
installed gpupack nor the planner's OR-Tools (the GPU host has none). ``run`` resumes what a previous,
interrupted run of the same phase left in OUT/GENERATOR.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from tabulate import tabulate

from profiler.base.errors import GpupackError
from profiler.measure.loadgen import MeasureSettings
from profiler.measure.report import profile_report, progress_line
from profiler.measure.request import ProfileRequest
from profiler.measure.run import run_profile
from profiler.measure.sweep import Progress
from profiler.profiles.profile_io import read_profile

GENERATORS = ("builtin", "perf_analyzer")
COMPARISON_CSV = "comparison.csv"
# The goal for the built-in generator against perf_analyzer on GPU models: within ±5 %.
AGREEMENT = 0.05


class _Stderr:
    def progress(self, event: Progress) -> None:
        print(progress_line(event), file=sys.stderr, flush=True)

    def notice(self, message: str) -> None:
        print(f"note: {message}", file=sys.stderr, flush=True)


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def run(args: argparse.Namespace) -> int:
    request = ProfileRequest(
        models=tuple(args.models.split(",")),
        batch_sizes=_counts(args.batch),
        concurrencies=_counts(args.concurrency),
        output=args.out / args.generator,
        model_repository=args.model_repository,
        triton_server=args.triton_server,
        backend_python=args.backend_python,
        load_generator=args.generator,
        perf_analyzer=args.perf_analyzer,
        settings=MeasureSettings(window_s=args.window, warmup_s=args.warmup, max_windows=args.max_windows),
        resume=True,
    )
    try:
        result = run_profile(request, _Stderr())
    except GpupackError as exc:
        print(f"error: {exc.message}" + (f"\nTo fix: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return exc.exit_code
    if result.profile is not None:
        print(profile_report(result.profile, result.summary()))
    return 130 if result.outcome.interrupted else 0


def compare(args: argparse.Namespace) -> int:
    profiles = {}
    for generator in GENERATORS:
        try:
            profiles[generator] = {p.key: p for p in read_profile(args.out / generator).points if p.ok}
        except GpupackError as exc:
            print(f"compare: no {generator} profile ({exc.message})", file=sys.stderr)
            profiles[generator] = {}
    builtin, reference = profiles["builtin"], profiles["perf_analyzer"]
    rows = []
    for key in sorted(builtin.keys() | reference.keys()):
        ours, theirs = builtin.get(key), reference.get(key)
        ratio = ours.throughput / theirs.throughput if ours and theirs and theirs.throughput else None
        rows.append(
            {
                "model": key[0],
                "batch_size": key[1],
                "concurrency": key[2],
                "builtin_infer_per_sec": round(ours.throughput, 2) if ours else "",
                "perf_analyzer_infer_per_sec": round(theirs.throughput, 2) if theirs else "",
                "ratio": round(ratio, 3) if ratio is not None else "",
                "builtin_stable": ours.stable if ours else "",
                "perf_analyzer_stable": theirs.stable if theirs else "",
            }
        )
    with open(args.out / COMPARISON_CSV, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["model"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    headers = ["MODEL", "BATCH", "CONC", "BUILTIN (INFER/S)", "PERF_ANALYZER (INFER/S)", "RATIO", "STABLE"]
    table = [
        [r["model"], r["batch_size"], r["concurrency"], r["builtin_infer_per_sec"],
         r["perf_analyzer_infer_per_sec"], r["ratio"], f"{r['builtin_stable']}/{r['perf_analyzer_stable']}"]
        for r in rows
    ]  # fmt: skip
    print(tabulate(table, headers=headers))
    ratios = [r["ratio"] for r in rows if r["ratio"] != ""]
    if ratios:
        within = sum(abs(r - 1) <= AGREEMENT for r in ratios)
        mean = sum(ratios) / len(ratios)
        print(
            f"{len(ratios)} points compared: built-in / perf_analyzer from {min(ratios):.3f} to "
            f"{max(ratios):.3f}, mean {mean:.3f}; {within} within ±{AGREEMENT:.0%}; "
            f"{args.out / COMPARISON_CSV}"
        )
    else:
        print("no point measured by both generators")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="profile with one load generator into OUT/GENERATOR")
    run_parser.add_argument("--generator", choices=GENERATORS, required=True)
    run_parser.add_argument("--model-repository", type=Path, required=True)
    run_parser.add_argument("--models", required=True)
    run_parser.add_argument("--batch", default="1,2,4")
    run_parser.add_argument("--concurrency", default="1,2,4")
    run_parser.add_argument("--window", type=float, default=1.0, help="seconds")
    run_parser.add_argument("--warmup", type=float, default=1.0, help="seconds")
    run_parser.add_argument("--max-windows", type=int, default=6)
    run_parser.add_argument("--triton-server", type=Path)
    run_parser.add_argument("--backend-python", type=Path)
    run_parser.add_argument("--perf-analyzer", type=Path)
    for p in (run_parser, sub.add_parser("compare", help="write OUT/comparison.csv and print it")):
        p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    return run(args) if args.command == "run" else compare(args)


if __name__ == "__main__":
    sys.exit(main())
