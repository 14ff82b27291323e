"""Each model's best variant alone, then pack, against gpupack's joint choice of variant, point and GPU.

Model Analyzer picks each model's best config alone (the highest throughput under the p99 bound) and
never places; the fleet then packs those configs. gpupack chooses the variant with the placement: a
variant with fewer instances may serve a little less per replica for much less memory, which is
where GPUs are won when memory is tight. This benchmark plans both ways on synthetic config-search
profiles of known theory and counts GPUs; every plan goes through `gpupack plan`'s own code path,
which re-checks it (``check_plan``) before it is returned.

Theory of a synthetic model (a batched_sleeper on a GPU): weights W MB, A MB per instance, a call of
L ms; an instance serves T infer/s alone and keeps the GPU U % busy doing it. A variant has I
instances (1..4) and the dynamic batcher off or on (it packs up to n requests a call, for G times
the throughput per instance, and adds its queue delay to latency). At batch 1, concurrency c:

    capacity     = T * (G if batcher else 1) * min(I, S) * (1 + OVERLAP * max(0, I - S))
    throughput   = min(c * 1000 / L, capacity)
    p99          = ceil(c / (I * (n if batcher else 1))) * L  (+ the queue delay with the batcher)
    GPU memory   = SERVER_MB + W + I * A        GPU util = min(100, U * throughput / (T * G or T))

S = 100 // U instances saturate the GPU; past them, another instance only overlaps copies and
compute (OVERLAP, a few % each): exactly the instance a model's best-alone search takes, and the
memory a fleet pays for it.

    python benchmarks/variant_fleet.py [--report]   # --report writes results/variant-fleet.md
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402

from cli import cli  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SERVER_MB = 500.0
OVERLAP = 0.03  # the gain of an instance past saturation: copies overlapping compute
QUEUE_DELAY_US = 2000
CONCURRENCIES = (1, 2, 4, 8, 16, 32)
MAX_INSTANCES = 4
TIME_LIMIT_S = 60  # per plan: enough for the solver to prove every plan here optimal, or say it did not
HEADER = [
    "model", "batch_size", "concurrency", "instance_count", "throughput_infer_per_sec", "latency_p99_ms",
    "max_gpu_utilization_pct", "max_gpu_memory_mb", "variant", "dynamic_batching", "max_queue_delay_us",
    "max_batch_size",
]  # fmt: skip


@dataclass(frozen=True)
class Model:
    """A synthetic model (see the module docstring): MB, ms, infer/s, %, and its target."""

    name: str
    weights_mb: float
    instance_mb: float
    call_ms: float
    alone: float  # T: infer/s of one instance without the batcher
    util: float  # U: GPU util (%) of one instance at T
    gain: float  # G: throughput per instance with the batcher
    per_call: int  # n: requests per call with the batcher
    target: float  # infer/s the fleet must serve
    p99_bound_ms: float


def rows(m: Model) -> list[list[object]]:
    """Every variant x concurrency of ``m`` as profile.csv rows."""
    out, number = [], 0
    saturation = max(1, 100 // int(m.util))
    for batcher in (False, True):
        for instances in range(1, MAX_INSTANCES + 1):
            variant = f"{m.name}_config_{number}"
            number += 1
            capacity = m.alone * (m.gain if batcher else 1) * min(instances, saturation)
            capacity *= 1 + OVERLAP * max(0, instances - saturation)
            for c in CONCURRENCIES:
                throughput = min(c * 1000 / m.call_ms, capacity)
                rounds = math.ceil(c / (instances * (m.per_call if batcher else 1)))
                p99 = rounds * m.call_ms + (QUEUE_DELAY_US / 1000 if batcher else 0)
                out.append([
                    m.name, 1, c, instances, round(throughput, 3), round(p99, 3),
                    round(min(100.0, m.util * throughput / (m.alone * (m.gain if batcher else 1))), 3),
                    SERVER_MB + m.weights_mb + instances * m.instance_mb, variant,
                    "true" if batcher else "false", QUEUE_DELAY_US if batcher else "", m.per_call,
                ])  # fmt: skip
    return out


def best_alone(m: Model, table: list[list[object]]) -> str:
    """Model Analyzer's choice: the variant of the highest throughput under the p99 bound."""
    ok = [r for r in table if float(r[5]) <= m.p99_bound_ms]
    top = max(float(r[4]) for r in ok)
    return next(r[8] for r in ok if float(r[4]) == top)


def write_profile(root: Path, gpu_mb: float, table: list[list[object]]) -> Path:
    root.mkdir(parents=True)
    with (root / "profile.csv").open("w", newline="") as f:
        csv.writer(f).writerows([HEADER, *table])
    (root / "server-only.csv").write_text(f"max_gpu_memory_mb\n{SERVER_MB}\n")
    (root / "metadata.json").write_text(
        json.dumps({"device": "gpu", "gpu_name": "synthetic", "gpu_memory_mb": gpu_mb})
    )
    return root


def plan_gpus(profile: Path, targets: Path) -> tuple[int, str, str]:
    """GPUs of `gpupack plan --choose-points --targets` (which re-checks its plan) and its status."""
    args = ["plan", "--profiles", str(profile), "--choose-points", "--targets", str(targets), "--json"]
    args += ["--time-limit", str(TIME_LIMIT_S)]
    result = CliRunner().invoke(cli, args)
    if result.exit_code != 0:
        raise SystemExit(f"plan failed ({result.exit_code}): {result.output}")
    data = json.loads(result.stdout)
    status = "optimal" if data["optimal"] else f"lower bound {data['lower_bound']}"
    replicas = [m for g in data["gpus"] for m in g["models"]]
    instances = sum(m["instance_count"] for m in replicas) / len(replicas)
    return data["gpu_count"], status, f"{len(replicas)} replicas, {instances:.1f} instances each"


def case(name: str, gpu_mb: float, models: list[Model], work: Path) -> dict[str, object]:
    tables = {m.name: rows(m) for m in models}
    chosen = {m.name: best_alone(m, tables[m.name]) for m in models}
    targets = work / f"{name}-targets.yaml"
    targets.write_text(
        "".join(
            f"{m.name}: {{throughput: {m.target}, max_latency_p99_ms: {m.p99_bound_ms}}}\n" for m in models
        )
    )
    joint_profile = write_profile(work / f"{name}-joint", gpu_mb, [r for t in tables.values() for r in t])
    alone_rows = [r for m in models for r in tables[m.name] if r[8] == chosen[m.name]]
    alone_profile = write_profile(work / f"{name}-alone", gpu_mb, alone_rows)
    started = time.monotonic()
    alone, alone_status, alone_shape = plan_gpus(alone_profile, targets)
    joint, joint_status, joint_shape = plan_gpus(joint_profile, targets)
    return {
        "case": name,
        "models": len(models),
        "gpu_mb": gpu_mb,
        "best_alone_then_pack": alone,
        "joint": joint,
        "saved": alone - joint,
        "seconds": round(time.monotonic() - started, 2),
        "alone_status": alone_status,
        "joint_status": joint_status,
        "alone_shape": alone_shape,
        "joint_shape": joint_shape,
    }


def _fleet(prefix: str, count: int, **kw: float) -> list[Model]:
    """``count`` models like ``kw``, each a little different (sizes and targets ± up to 20 %)."""
    out = []
    for k in range(count):
        f = 0.8 + 0.4 * ((k * 37) % 11) / 10  # a fixed spread, no RNG needed
        out.append(
            Model(
                f"{prefix}{k}",
                weights_mb=kw["weights_mb"] * f,
                instance_mb=kw["instance_mb"] * f,
                call_ms=kw["call_ms"],
                alone=kw["alone"],
                util=kw["util"],
                gain=kw["gain"],
                per_call=int(kw["per_call"]),
                target=round(kw["target"] * f, 1),
                p99_bound_ms=kw["p99_bound_ms"],
            )
        )
    return out


CASES = {
    # Vision models on 16 GB GPUs: 1.5 GB of activations per instance; an instance saturates half the
    # GPU, so 3 and 4 instances add only overlap, for 1.5 GB each.
    "cv-16GB": (16_000.0, _fleet("cv", 8, weights_mb=1500, instance_mb=1500, call_ms=20, alone=50, util=50,
                                 gain=1.6, per_call=4, target=60, p99_bound_ms=100)),
    # Large-activation models on 24 GB GPUs, light compute: 4 instances to saturate, 3 GB each.
    "large-24GB": (24_000.0, _fleet("lg", 6, weights_mb=4000, instance_mb=3000, call_ms=40, alone=25, util=25,
                                    gain=1.3, per_call=2, target=70, p99_bound_ms=200)),
    # Compute-bound models on 80 GB GPUs: memory is plentiful, utilization binds: nothing to win.
    "compute-80GB": (80_000.0, _fleet("cb", 8, weights_mb=2000, instance_mb=1000, call_ms=10, alone=100,
                                      util=100, gain=1.0, per_call=1, target=150, p99_bound_ms=50)),
    # A mix of both kinds on 16 GB GPUs.
    "mixed-16GB": (16_000.0, _fleet("cv", 4, weights_mb=1500, instance_mb=1500, call_ms=20, alone=50, util=50,
                                    gain=1.6, per_call=4, target=120, p99_bound_ms=100)
                   + _fleet("sm", 6, weights_mb=600, instance_mb=800, call_ms=8, alone=120, util=34,
                            gain=1.8, per_call=4, target=400, p99_bound_ms=40)),
}  # fmt: skip


def main() -> None:
    """Plan every case both ways; print a table (and write results/variant-fleet.md with --report)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [case(name, mb, models, Path(tmp)) for name, (mb, models) in CASES.items()]
    lines = [
        "| case | models | GPU memory (MB) | GPUs, best variant alone then pack | GPUs, joint | saved "
        "| seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        alone = f"{r['best_alone_then_pack']} ({r['alone_status']}; {r['alone_shape']})"
        joint = f"{r['joint']} ({r['joint_status']}; {r['joint_shape']})"
        lines.append(
            f"| {r['case']} | {r['models']} | {r['gpu_mb']:g} | {alone} | {joint} | {r['saved']} "
            f"| {r['seconds']} |"
        )
    print("\n".join(lines))
    if any(int(r["saved"]) < 0 for r in results):
        raise SystemExit("the joint plan needs more GPUs than best-alone-then-pack in a case")
    if args.report:
        (RESULTS / "variant-fleet.md").write_text(_report(lines))


def _report(table: list[str]) -> str:
    return "\n".join(
        [
            "# Each model's best variant alone, then pack, against gpupack's joint choice",
            "",
            "`python benchmarks/variant_fleet.py --report`: pure planning on synthetic config-search",
            "profiles (theory in the script's docstring). Both columns are `gpupack plan --choose-points",
            "--targets` (throughput targets and p99 bounds): the first on a profile holding only each",
            "model's best variant alone (Model Analyzer's choice: the highest throughput under the bound),",
            "the second on every variant. Every plan passed `check_plan` (the plan command re-checks it",
            "before it returns).",
            "",
            *table,
            "",
        ]
    )


if __name__ == "__main__":
    main()
