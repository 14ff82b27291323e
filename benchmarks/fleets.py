"""The seed fleet and seed-like vector fleets of 100 to 10,000 models through `gpupack plan`'s code path.

Each model is one of the nine rows of packer/data/seed/profile.csv, every measure scaled by a
random factor in [0.8, 1.2] (memory as 309 + (memory − 309) × factor, the server's 309 MB kept),
with a fixed RNG seed; 16 GB GPUs; both objectives. ``--report`` writes results/fleets.md.

Usage:
    python benchmarks/fleets.py [--sizes 100 1000 2000 10000] [--seconds 30 120]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from packer.check import check_plan
from packer.planner import plan
from packer.problem import plain_problem
from packer.service import BUILTIN_PROFILE
from packer.settings import Objective, SolverSettings, Thresholds
from packer.testing.machine import machine_lines
from packer.testing.synthetic import seed_like_fleet
from profiler.profiles.profile_io import read_profile
from profiler.profiles.schema import Profile

RESULTS = Path(__file__).resolve().parent / "results"
CSV_PATH = RESULTS / "fleets.csv"
SEED = 20240601
# Time limit per size: the targets (2,000 models in 30 s, 10,000 in 120 s); 10 s below.
LIMITS = {9: 10.0, 100: 10.0, 1000: 10.0, 2000: 30.0, 10000: 120.0}
FIELDS = ["models", "objective", "gpus", "lower_bound", "optimal", "gap_pct", "seconds", "ffd", "status"]


def fleet(models: int, seed: int = SEED) -> Profile:
    """``models`` seed-like models (``synthetic``); 9 is the seed fleet itself, unscaled."""
    base = read_profile(BUILTIN_PROFILE)
    if models == len(base.points):
        return base
    return seed_like_fleet(models, seed)


def run(models: int, objective: Objective, seconds: float, workers: int) -> dict:
    problem = plain_problem(fleet(models), objective, 16000.0, Thresholds())
    result = plan(problem, SolverSettings(max_time_in_seconds=seconds, num_workers=workers))
    violations = check_plan(problem, result)
    if violations:
        raise SystemExit(f"{models} models, {objective.value}: plan fails its check: {violations[0]}")
    gap = 100.0 * (result.gpu_count - result.lower_bound) / result.lower_bound
    return {
        "models": models,
        "objective": objective.value,
        "gpus": result.gpu_count,
        "lower_bound": result.lower_bound,
        "optimal": int(result.optimal),
        "gap_pct": round(gap, 2),
        "seconds": round(result.solve_seconds, 2),
        "ffd": result.ffd_gpu_count,
        "status": result.solver_status,
    }


def report(rows: list[dict], workers: int = 0) -> str:
    lines = [
        "# Seed-like fleets through `gpupack plan` (16 GB GPUs)",
        "",
        *machine_lines(),
        "- 9 models: the seed fleet itself (the blog's Table 2). Larger fleets: models drawn from the nine",
        f"  seed rows, measures × U[0.8, 1.2], RNG seed {SEED}.",
        "- Time limit: "
        + ", ".join(f"{k:,} models {v:g} s" for k, v in LIMITS.items())
        + (f"; {workers} workers." if workers else "; default workers (all cores)."),
        "",
        "| MODELS | OBJECTIVE | GPUS | LOWER BOUND | OPTIMAL | GAP (%) | SECONDS | FFD GPUS |",
        "|---:|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        optimal = "yes" if int(r["optimal"]) else "no"
        lines.append(
            f"| {int(r['models']):,} | {r['objective']} | {r['gpus']} | {r['lower_bound']} | {optimal} | "
            f"{r['gap_pct']} | {r['seconds']} | {r['ffd']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(LIMITS))
    parser.add_argument("--workers", type=int, default=0, help="CP-SAT workers (default 0: all cores)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    rows = []
    for models in args.sizes:
        for objective in (Objective.MIN_GPUS, Objective.THROUGHPUT):
            rows.append(run(models, objective, LIMITS.get(models, 10.0), args.workers))
            print(rows[-1], flush=True)
    with CSV_PATH.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    (RESULTS / "fleets.md").write_text(report(rows, args.workers))


if __name__ == "__main__":
    main()
