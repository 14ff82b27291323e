"""Synthetic fleets for benchmarks and tests, each the same every time (a generator with a fixed seed).

- ``seed_like_fleet``: the blog's nine models drawn again and again, scaled. Each model is one row
  of the built-in seed profile with every measure scaled by one random factor in [0.8, 1.2] (memory
  as ``server + (memory − server) × factor``, the server kept).
- ``random_fleet``: independent models as a platform team's fleet looks to the planner (issue 20's
  scale case): memory 0.4–9 GB of its own, GPU and memory-controller utilization 5–80 %, on 16 GB
  GPUs; with ``points`` > 1 each model has that many (batch, concurrency) points, faster ones
  using more, for ``--choose-points``.
"""

from __future__ import annotations

import dataclasses
import random

from packer.service import BUILTIN_PROFILE
from profiler import Profile, ProfilePoint, read_profile

# Each measure of a drawn seed-like model is scaled by a factor from this range.
SCALE_RANGE = (0.8, 1.2)
# The random fleet: a model's own memory (MB) and utilizations (%), drawn uniformly.
MEMORY_MB = (400.0, 9000.0)
UTIL_PCT = (5.0, 80.0)
# The seed's server (MB, packer/data/seed/server-only.csv): the random fleet keeps the seed's server
# and 16 GB GPU (its metadata).
SERVER_MB = 309.0
# Point k of a model (k = 0, 1, ...) at batch 2^k: throughput × (1 + k), every demand × (1 + k/4).
POINT_GROWTH = 0.25


def seed_like_fleet(models: int, seed: int) -> Profile:
    """``models`` models drawn from the seed profile's rows (see the module docstring)."""
    base = read_profile(BUILTIN_PROFILE)
    rows = [p for p in base.points if p.ok]
    server = base.server.memory_mb or 0.0
    rng = random.Random(seed)
    points = []
    for k in range(models):
        row = rows[rng.randrange(len(rows))]
        f = rng.uniform(*SCALE_RANGE)
        points.append(
            ProfilePoint(
                model=f"{row.model}-{k}",
                batch_size=row.batch_size,
                concurrency=row.concurrency,
                throughput=row.throughput * f,
                gpu_util_pct=row.gpu_util_pct * f,
                mem_util_pct=row.mem_util_pct * f,
                memory_mb=server + (row.memory_mb - server) * f,
            )
        )
    return Profile(points=tuple(points), server=base.server, metadata=base.metadata, source=f"fleet-{models}")


def random_fleet(models: int, seed: int, points: int = 1) -> Profile:
    """``models`` independent random models with ``points`` points each (see the module docstring)."""
    base = read_profile(BUILTIN_PROFILE)
    rng = random.Random(seed)
    rows = []
    for m in range(models):
        memory, gpu, mem = rng.uniform(*MEMORY_MB), rng.uniform(*UTIL_PCT), rng.uniform(*UTIL_PCT)
        throughput = rng.uniform(50.0, 2000.0)
        for k in range(points):
            grow = 1.0 + POINT_GROWTH * k
            rows.append(
                ProfilePoint(
                    model=f"model-{m:06d}",
                    batch_size=2**k,
                    concurrency=1,
                    throughput=round(throughput * (1 + k), 3),
                    latency_p99_ms=round(5.0 * grow, 3),
                    # Capped so every point still fits an empty GPU (a larger one would be dropped).
                    gpu_util_pct=round(min(gpu * grow, 95.0), 3),
                    mem_util_pct=round(min(mem * grow, 95.0), 3),
                    memory_mb=round(SERVER_MB + min(memory * grow, 14000.0), 3),
                )
            )
    metadata = dataclasses.replace(base.metadata, gpu_name="synthetic 16 GB GPU", notes="random fleet")
    return Profile(points=tuple(rows), server=base.server, metadata=metadata, source=f"random-{models}")
