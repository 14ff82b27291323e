"""How long `gpupack plan` takes as the fleet grows: 1,000 to 100,000 random models, as a user runs it.

Each case writes a random fleet (``packer.testing.synthetic.random_fleet``: memory 0.4–9 GB of its
own, GPU and memory-controller utilization 5–80 %, the seed's 309 MB server, 16 GB GPUs, RNG seed
1) as a profile directory, then runs the installed ``gpupack plan --profiles DIR --time-limit S
--output plan.json`` in a subprocess, the table printed as a user sees it. Measured: the command's
wall time, the solver's share (the plan's ``solve_seconds``), its peak RSS (``os.wait4``'s
``ru_maxrss``: that child's own), the GPUs, the lower bound and first-fit decreasing's count. The
``--choose-points`` case gives each model three points (batch 1, 2, 4). Results go to
results/scale.csv and results/scale.md.

Determinism (issue 20's last clause): each case runs a second time while ``BUSY_LOOPS`` busy-loop
processes load the CPU; SAME PLAN is "yes" when both runs give the same GPUs, bound and assignment
(a hash of the plan's models and GPUs), and CAPPED counts the runs the wall clock stopped before
their work budget (``stopped_by_time_limit``), which may then differ.

Goals (issue 20): at 10,000 models wall ≤ 1.5 × --time-limit for both objectives; 100,000 models
min-gpus within 60 s and under 4 GB RSS.

Usage:
    python benchmarks/scale.py [--cases 1000:min-gpus 10000:throughput ...] [--time-limit 5]
    python benchmarks/scale.py --report   # the table again from results/scale.csv
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packer.testing.machine import machine_lines
from packer.testing.synthetic import random_fleet
from profiler.profiles.profile_io import write_profile

RESULTS = Path(__file__).resolve().parent / "results"
CSV_PATH = RESULTS / "scale.csv"
SEED = 1
# MODELS:OBJECTIVE[:choose] — the grid; 100,000 models at 30 s (parsing alone takes seconds).
CASES = (
    "1000:min-gpus",
    "1000:throughput",
    "1000:min-gpus:choose",
    "10000:min-gpus",
    "10000:throughput",
    "10000:min-gpus:choose",
    "100000:min-gpus",
)
LIMITS = {100000: 30.0}
POINTS_WHEN_CHOOSING = 3
# Busy-loop processes beside the second run of each case.
BUSY_LOOPS = 2
FIELDS = [
    "models",
    "objective",
    "choose_points",
    "time_limit_s",
    "wall_s",
    "solve_s",
    "solver_share_pct",
    "peak_rss_mb",
    "gpus",
    "lower_bound",
    "ffd_gpus",
    "status",
    "exit_code",
    "plan_hash",
    "capped",
    "loaded_wall_s",
    "loaded_capped",
    "same_plan",
]


def _gpupack() -> str:
    """The installed console script beside this interpreter (as a user runs it), else on PATH."""
    beside = Path(sys.executable).parent / "gpupack"
    return str(beside) if beside.exists() else (shutil.which("gpupack") or "gpupack")


def _wait(child: subprocess.Popen, timeout: float) -> tuple[int | None, object]:
    """The child's wait status and its own rusage; (None, None) once killed at ``timeout`` seconds."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            return status, usage
        time.sleep(0.05)
    child.kill()
    os.wait4(child.pid, 0)
    return None, None


def run_case(case: str, time_limit: float, work: Path, timeout: float) -> dict:
    """Write the case's fleet, run `gpupack plan` on it, and measure it."""
    models, objective, *rest = case.split(":")
    n, choose = int(models), bool(rest)
    limit = LIMITS.get(n, time_limit)
    profile = work / f"fleet-{n}-{POINTS_WHEN_CHOOSING if choose else 1}"
    if not profile.exists():
        write_profile(random_fleet(n, SEED, POINTS_WHEN_CHOOSING if choose else 1), profile)
    plan_json = work / "plan.json"
    plan_json.unlink(missing_ok=True)
    command = [_gpupack(), "plan", "--profiles", str(profile), "--objective", objective]
    command += ["--time-limit", f"{limit:g}", "--output", str(plan_json), "--quiet"]
    command += ["--choose-points"] if choose else []
    with (work / "stdout.txt").open("wb") as out, (work / "stderr.txt").open("wb") as err:
        started = time.monotonic()
        child = subprocess.Popen(command, stdout=out, stderr=err)
        status, usage = _wait(child, timeout)
        wall = time.monotonic() - started
    if status is None:
        return {"models": n, "objective": objective, "choose_points": int(choose), "time_limit_s": limit} | {
            "wall_s": round(wall, 2),
            "status": f"KILLED after {timeout:g} s",
            "exit_code": -9,
        }
    child.returncode = os.waitstatus_to_exitcode(status)
    row = {"models": n, "objective": objective, "choose_points": int(choose), "time_limit_s": limit}
    rss_mb = round(usage.ru_maxrss / 1024)  # KiB on Linux
    row |= {"wall_s": round(wall, 2), "peak_rss_mb": rss_mb, "exit_code": child.returncode}
    if child.returncode != 0:
        print((work / "stderr.txt").read_text()[-2000:], file=sys.stderr)
        return row | {"status": "FAILED"}
    plan = json.loads(plan_json.read_text())
    solve = plan["solve_seconds"]
    decided = json.dumps([plan["models"], plan["gpus"], plan["lower_bound"]], sort_keys=True)
    return row | {
        "plan_hash": hashlib.sha256(decided.encode()).hexdigest()[:12],
        "capped": int(plan.get("stopped_by_time_limit", False)),
        "solve_s": round(solve, 2),
        "solver_share_pct": round(100 * solve / wall),
        "gpus": len(plan["gpus"]),
        "lower_bound": plan["lower_bound"],
        "ffd_gpus": plan["ffd_gpu_count"],
        "status": plan["solver_status"],
    }


def run_loaded(case: str, time_limit: float, work: Path, timeout: float) -> dict:
    """``run_case`` again beside ``BUSY_LOOPS`` busy loops."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BUSY_LOOPS)]
    try:
        return run_case(case, time_limit, work, timeout)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def with_rerun(row: dict, loaded: dict) -> dict:
    """``row`` with the loaded rerun's wall time, whether it was capped, and whether the plans match."""
    same = all(row.get(k) == loaded.get(k) for k in ("gpus", "lower_bound", "plan_hash"))
    return row | {
        "loaded_wall_s": loaded.get("wall_s", ""),
        "loaded_capped": loaded.get("capped", ""),
        "same_plan": "yes" if same and "plan_hash" in row else "no",
    }


def report(rows: list[dict], load: str) -> str:
    """results/scale.md; ``load`` is the host's load average when the run began."""
    lines = [
        "# `gpupack plan` as fleets grow (random models, 16 GB GPUs)",
        "",
        *machine_lines(),
        f"- Load average (1, 5, 15 min) when the run began: {load}",
        "- Fleet: `packer.testing.synthetic.random_fleet` (memory 0.4–9 GB of its own, utilizations 5–80 %,",
        f"  RNG seed {SEED}); the `--choose-points` case has {POINTS_WHEN_CHOOSING} points per model.",
        "- Command: `gpupack plan --profiles DIR --objective O --time-limit S --output plan.json --quiet`,",
        "  a subprocess; WALL is the whole command (Python start and imports included), SOLVE the plan's",
        "  `solve_seconds`, RSS the command's peak resident memory.",
        "- Goals: 10,000 models within 1.5 × --time-limit (7.5 s at 5 s) for both objectives; 100,000",
        "  models min-gpus within 60 s and under 4 GB.",
        f"- Determinism: each case ran again beside {BUSY_LOOPS} busy-loop processes (LOADED WALL); SAME",
        "  PLAN: the same GPUs, bound and assignment (hash of the plan's models and GPUs) in both runs;",
        "  CAPPED: runs the wall clock stopped before their work budget (`stopped_by_time_limit`), of two.",
        "",
        "| MODELS | OBJECTIVE | CHOOSE POINTS | LIMIT (s) | WALL (s) | SOLVE (s) | SOLVER (%) "
        "| PEAK RSS (MB) | GPUS | LOWER BOUND | FFD GPUS | STATUS | LOADED WALL (s) | CAPPED | SAME PLAN |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        choose = "yes" if int(r["choose_points"]) else "no"
        cells = [f"{int(r['models']):,}", r["objective"], choose, f"{float(r['time_limit_s']):g}"]
        cells += [str(r.get(k, "")) for k in FIELDS[4:12]]
        capped = sum(int(r.get(k) or 0) for k in ("capped", "loaded_capped"))
        cells += [str(r.get("loaded_wall_s", "")), str(capped), str(r.get("same_plan", ""))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", default=list(CASES), help="MODELS:OBJECTIVE[:choose]")
    parser.add_argument("--time-limit", type=float, default=5.0, help="seconds (100,000 models: 30)")
    parser.add_argument("--timeout", type=float, default=300.0, help="kill a case after this many seconds")
    parser.add_argument("--report", action="store_true", help="only rewrite results/scale.md from the CSV")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    load = "not recorded (table rewritten with --report)" if args.report else load
    if args.report:
        with CSV_PATH.open() as f:
            rows = list(csv.DictReader(f))
    else:
        rows = []
        with tempfile.TemporaryDirectory(prefix="gpupack-scale-") as work:
            for case in args.cases:
                row = run_case(case, args.time_limit, Path(work), args.timeout)
                rows.append(with_rerun(row, run_loaded(case, args.time_limit, Path(work), args.timeout)))
                print(rows[-1], flush=True)
        with CSV_PATH.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    (RESULTS / "scale.md").write_text(report(rows, load))


if __name__ == "__main__":
    main()
