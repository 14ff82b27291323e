"""Seed-like fleets, for benchmarks and tests: the blog's nine models drawn again and again, scaled.

Each model is one row of the built-in seed profile with every measure scaled by one random factor
in [0.8, 1.2] (memory as ``server + (memory − server) × factor``, the server kept), from a
generator with a fixed seed, so a fleet is the same every time.
"""

from __future__ import annotations

import random

from packer.service import BUILTIN_PROFILE
from profiler import Profile, ProfilePoint, read_profile

# Each measure of a drawn model is scaled by a factor from this range.
SCALE_RANGE = (0.8, 1.2)


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
