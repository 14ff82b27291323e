"""Three-resource packing (the throughput objective's problem) on seeded instance families.

Each instance (``vector_instances``: exact fills with a known optimum, correlated, anti-correlated,
big+small, uniform and seed-like sizes) goes to ``packer.binpacking.vector_engine`` with the default
solver settings a user gets (all cores, seed 0); every packing is re-checked against the capacities
here. Results go to results/vector.csv and results/vector.md. results/vector-before.* hold what
the engines the planner used before (x[m, g] CP-SAT up to 150 models, greedy + repair above, as of
commit f259b94) gave on seed 1; those engines are gone.

Usage:
    python benchmarks/vector.py [--quick] [--family NAME]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from packer.binpacking.vector_engine import pack_vector_exact
from packer.settings import SolverSettings
from packer.testing.machine import machine_lines
from packer.testing.vector_instances import FAMILIES, instance

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = (1, 2, 3)
# (family, sizes, seconds): the grid, 60–250 items of every family at 10 s; exact fills at
# 50 and 150 (10 s), 500 and 2,000 (30 s); seed-like fleets of 1,000 and 2,000 at 10 and 30 s.
GRID = [
    *[(family, (60, 100, 150, 200, 250), 10.0) for family in FAMILIES],
    ("exact", (50,), 10.0),
    ("exact", (500, 2000), 30.0),
    ("seedlike", (1000,), 10.0),
    ("seedlike", (2000,), 30.0),
]
FIELDS = [
    "family",
    "items",
    "seed",
    "seconds_limit",
    "engine",
    "gpus",
    "lower_bound",
    "optimum",
    "proven",
    "ffd",
    "seconds",
    "status",
]


def feasible(demands: list[list[int]], capacity: list[int], assignment: tuple[int, ...]) -> bool:
    """Every item in a bin 0..k-1 and every bin within capacity (independent of the engine's own check)."""
    loads = np.zeros((max(assignment) + 1, len(capacity)), dtype=np.int64)
    np.add.at(loads, np.asarray(assignment), np.asarray(demands, dtype=np.int64))
    return min(assignment) >= 0 and bool(np.all(loads <= np.asarray(capacity)))


def run(family: str, items: int, seed: int, seconds: float, engine: str) -> dict:
    demands, capacity, optimum = instance(family, items, seed)
    settings = SolverSettings(max_time_in_seconds=seconds)
    started = time.perf_counter()
    outcome = pack_vector_exact(demands, capacity, settings)
    elapsed = time.perf_counter() - started
    if not feasible(demands, capacity, outcome.assignment):
        raise SystemExit(f"{family} {items} seed {seed} ({engine}): infeasible packing")
    return {
        "family": family,
        "items": items,
        "seed": seed,
        "seconds_limit": seconds,
        "engine": engine,
        "gpus": outcome.count,
        "lower_bound": outcome.lower,
        "optimum": "" if optimum is None else optimum,
        "proven": int(outcome.proven),
        "ffd": outcome.ffd_count,
        "seconds": round(elapsed, 2),
        "status": outcome.status,
    }


def report(rows: list[dict]) -> str:
    lines = [
        "# Three-resource packing (throughput objective) on seeded families",
        "",
        *machine_lines(),
        "- Default solver settings (all cores, seed 0); instances from `packer/testing/vector_instances.py`,",
        f"  seeds {', '.join(map(str, SEEDS))} per family and size; every packing re-checked against the",
        "  capacities.",
        "- AT BOUND: GPUs equal the engine's lower bound (optimal); for exact fills the optimum is known",
        "  by construction and equals the bound. GAP: (GPUs − bound) / bound over the instances.",
        "",
        "| FAMILY | MODELS | ENGINE | LIMIT (s) | AT BOUND | MEAN GPUS | MEAN BOUND | OPTIMUM | "
        "MAX GAP (%) | WORSE THAN FFD | AVG (s) | MAX (s) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["family"], int(r["items"]), r["engine"], float(r["seconds_limit"])), []).append(
            r
        )
    for (family, items, engine, limit), mine in groups.items():
        n = len(mine)
        at = sum(int(r["gpus"]) == int(r["lower_bound"]) for r in mine)
        gaps = [100 * (int(r["gpus"]) - int(r["lower_bound"])) / int(r["lower_bound"]) for r in mine]
        worse = sum(int(r["gpus"]) > int(r["ffd"]) for r in mine)
        optimum = "/".join(str(r["optimum"]) for r in mine) if mine[0]["optimum"] != "" else "—"
        secs = [float(r["seconds"]) for r in mine]
        gpus = np.mean([int(r["gpus"]) for r in mine])
        lines.append(
            f"| {family} | {items:,} | {engine} | {limit:g} | {at}/{n} | {gpus:.1f} | "
            f"{np.mean([int(r['lower_bound']) for r in mine]):.1f} | {optimum} | {max(gaps):.2f} | {worse} | "
            f"{np.mean(secs):.2f} | {max(secs):.2f} |"
        )
    small = [r for r in rows if r["engine"] == "vector" and 60 <= int(r["items"]) <= 250]
    if small:
        at = sum(int(r["gpus"]) == int(r["lower_bound"]) for r in small)
        lines += [
            "",
            f"60–250 models, all families (vector engine): {at}/{len(small)} at the bound "
            f"({100 * at / len(small):.1f} %).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="seed 1 only")
    parser.add_argument("--family", action="append", choices=FAMILIES, help="repeatable; default all")
    args = parser.parse_args()
    seeds = SEEDS[:1] if args.quick else SEEDS
    engines = ["vector"]
    name = "vector"
    RESULTS.mkdir(exist_ok=True)
    rows = []
    for family, sizes, seconds in GRID:
        if args.family and family not in args.family:
            continue
        for items in sizes:
            for engine in engines:
                for seed in seeds:
                    rows.append(run(family, items, seed, seconds, engine))
                    print(", ".join(f"{k}={rows[-1][k]}" for k in FIELDS), flush=True)
    with (RESULTS / f"{name}.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    (RESULTS / f"{name}.md").write_text(report(rows))


if __name__ == "__main__":
    main()
