"""Seeded three-resource packing instances (GPU memory, GPU utilization, memory-controller utilization).

Every generator returns integer demands and capacities in the planner's units (``problem.SCALE``:
hundredths of a MB and of a percent), for a 16 GB GPU with the seed's 309 MB server: capacity
(1,569,100, 10,000, 10,000). Families:

- ``exact``: K bins, each split into 2–5 items in every resource independently (random cut points),
  so the K bins are filled to exactly 100 % in all three resources; the items are shuffled. The
  optimum is K (total demand / capacity, so every lower bound from L1 up equals it).
- ``correlated``: one share s ~ U[0.05, 0.5] per item, each resource s × U[0.8, 1.2].
- ``anticorrelated``: memory share s ~ U[0.05, 0.5], utilizations ~ (0.55 − s) × U[0.8, 1.2].
- ``bigsmall``: a third of the items big (each resource U[0.3, 0.6]), the rest small (U[0.02, 0.15]).
- ``uniform``: each resource independently U[0.05, 0.4].
- ``seedlike``: ``packer.testing.synthetic.seed_like_fleet`` through ``plain_problem`` (throughput).

``instance(family, items, seed)`` returns (demands, capacity, optimum or None).
"""

from __future__ import annotations

import random

CAPACITY = (1_569_100, 10_000, 10_000)
FAMILIES = ("exact", "correlated", "anticorrelated", "bigsmall", "uniform", "seedlike")
# Items per bin of an exact fill: uniform in this range (3.5 on average, like GPUs shared by a few models).
EXACT_ITEMS = (2, 5)


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def exact_fill(items: int, seed: int) -> tuple[list[list[int]], list[int], int]:
    """``items`` items filling K bins exactly in every resource; returns demands, capacity, K."""
    rng = random.Random(seed)
    low, high = EXACT_ITEMS
    sizes: list[int] = []
    left = items
    while left > 0:
        parts = min(rng.randint(low, high), left)
        if left - parts == 1:  # no bin of one item at the end
            parts = parts + 1 if parts < high else parts - 1
        sizes.append(parts)
        left -= parts
    demands: list[list[int]] = []
    for parts in sizes:
        columns = [_split(c, parts, rng) for c in CAPACITY]
        demands.extend([list(v) for v in zip(*columns, strict=True)])
    rng.shuffle(demands)
    return demands, list(CAPACITY), len(sizes)


def _shares(family: str, rng: random.Random) -> tuple[float, float, float]:
    if family == "correlated":
        s = rng.uniform(0.05, 0.5)
        return tuple(min(1.0, s * rng.uniform(0.8, 1.2)) for _ in range(3))
    if family == "anticorrelated":
        s = rng.uniform(0.05, 0.5)
        return s, (0.55 - s) * rng.uniform(0.8, 1.2), (0.55 - s) * rng.uniform(0.8, 1.2)
    if family == "bigsmall":
        low, high = (0.3, 0.6) if rng.random() < 1 / 3 else (0.02, 0.15)
        return tuple(rng.uniform(low, high) for _ in range(3))
    if family == "uniform":
        return tuple(rng.uniform(0.05, 0.4) for _ in range(3))
    raise ValueError(f"unknown family {family!r}")


def seed_like(items: int, seed: int) -> tuple[list[list[int]], list[int]]:
    """The seed-like fleet of ``synthetic`` as the planner's throughput problem (16 GB GPUs)."""
    from packer.problem import plain_problem
    from packer.resources import units_down, units_up
    from packer.settings import Objective, Thresholds
    from packer.testing.synthetic import seed_like_fleet

    problem = plain_problem(seed_like_fleet(items, seed), Objective.THROUGHPUT, 16000.0, Thresholds())
    demands = [[units_up(d) for d in item.options[0].demand] for item in problem.items]
    return demands, [units_down(c) for c in problem.room[0]]


def instance(family: str, items: int, seed: int) -> tuple[list[list[int]], list[int], int | None]:
    """One instance of ``family`` with ``items`` items: demands, capacity, and the optimum if known."""
    if family == "exact":
        return exact_fill(items, seed)
    if family == "seedlike":
        demands, capacity = seed_like(items, seed)
        return demands, capacity, None
    rng = random.Random(seed)
    demands = [
        [max(1, round(s * c)) for s, c in zip(_shares(family, rng), CAPACITY, strict=True)]
        for _ in range(items)
    ]
    return demands, list(CAPACITY), None
