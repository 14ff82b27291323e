r"""Vector packing at fleet scale: fast greedy packings, then CP-SAT repairs a few GPUs at a time.

Sets
    M            models (items), R resources;  S ⊆ GPUs a neighbourhood of k GPUs
Parameters
    d[m, r] ≥ 0  demand, integer;  C[r] > 0 capacity per GPU
Steps
    1. first-fit decreasing (the planner's order: largest share of any resource first), and
       best-fit decreasing by the fullest GPU (largest Σ_r load[r] / C[r]) that has room; the
       better one is kept. NumPy scans all GPUs per model, so 10,000 models take ~1 s.
    2. lower bound: ``bounds.vector_lower_bound`` (L2 per resource).
    3. large-neighbourhood search, until the bound is met or time runs out: take the least-loaded
       GPU and k − 1 others (seeded random, among the less loaded), and ask CP-SAT to repack their
       models into k − 1 GPUs; on success the plan has one GPU fewer. The repair model:
Variables
    x[m, g] ∈ {0, 1}   model m of the neighbourhood goes to GPU g, g < k − 1
Constraints
    (1) Σ_g x[m, g] = 1                    ∀ m          every model placed
    (2) Σ_m d[m, r]·x[m, g] ≤ C[r]         ∀ g, r       capacity
    (3) x[m, g] = 0                        ∀ g > rank(m) symmetry: GPU g named after its largest
                                                        model
The plan is only ever replaced by a feasible one with fewer GPUs, so it stays valid throughout.
"""

from __future__ import annotations

import dataclasses
import random
import time

import numpy as np
from ortools.sat.python import cp_model

from packer import cpsat
from packer.binpacking.bounds import vector_lower_bound
from packer.binpacking.ffd import decreasing_order
from packer.binpacking.packing import Packing
from packer.settings import SolverSettings

# GPUs per neighbourhood: small enough for CP-SAT to settle in well under a second.
NEIGHBOURHOOD = 8
# Seconds one repair may take.
REPAIR_SECONDS = 0.5
# Consecutive failed repairs after which the search stops (it rarely succeeds after that many).
STALL_LIMIT = 200


def greedy(demands: np.ndarray, capacity: np.ndarray, order: list[int], best: bool) -> list[int]:
    """Step 1: first fit (``best`` False) or best fit by fullest GPU, over ``order``."""
    room = np.tile(capacity, (len(order), 1)).astype(np.int64)
    assignment = [-1] * len(order)
    opened = 0
    for m in order:
        fits = np.all(room[:opened] >= demands[m], axis=1)
        if fits.any():
            if best:
                fullness = (1 - room[:opened] / capacity).sum(axis=1)
                g = int(np.argmax(np.where(fits, fullness, -1.0)))
            else:
                g = int(np.argmax(fits))
        else:
            g = opened
            opened += 1
        room[g] -= demands[m]
        assignment[m] = g
    return assignment


def _repair(
    demands: np.ndarray, capacity: np.ndarray, models: list[int], gpus: int, settings: SolverSettings
) -> list[int] | None:
    """Step 3's model (1)–(3): a GPU (0..gpus-1) per model of ``models``, or None if not found."""
    ranked = sorted(models, key=lambda m: (-float(np.max(demands[m] / capacity)), m))
    model = cp_model.CpModel()
    # x[m, g] = 1 if model ranked m goes to GPU g; (3) only GPUs up to its rank exist.
    x = {
        (k, g): model.new_bool_var(f"x[{k},{g}]") for k in range(len(ranked)) for g in range(min(k + 1, gpus))
    }
    for k in range(len(ranked)):
        # (1) every model placed
        model.add_exactly_one(x[k, g] for g in range(min(k + 1, gpus)))
    for g in range(gpus):
        for r, cap in enumerate(capacity):
            # (2) capacity
            model.add(
                sum(int(demands[m, r]) * x[k, g] for k, m in enumerate(ranked) if (k, g) in x) <= int(cap)
            )
    # One worker: many small repairs, each too small to share between threads.
    solver = cpsat.run(model, dataclasses.replace(settings, num_workers=1, debug=False), REPAIR_SECONDS)
    if solver.status_name() not in ("OPTIMAL", "FEASIBLE"):
        # INFEASIBLE, UNKNOWN (time) or MODEL_INVALID: this neighbourhood gives nothing.
        return None
    placed = {}
    for (k, g), var in x.items():
        if solver.boolean_value(var):
            placed[ranked[k]] = g
    return [placed[m] for m in models]


def _renumber(assignment: list[int]) -> list[int]:
    order = {g: k for k, g in enumerate(dict.fromkeys(assignment))}
    return [order[g] for g in assignment]


def improve(
    demands: np.ndarray,
    capacity: np.ndarray,
    assignment: list[int],
    lower: int,
    settings: SolverSettings,
    deadline: float,
) -> list[int]:
    """Step 3: repair neighbourhoods until the bound, the deadline, or no progress in a while."""
    rng = random.Random(settings.random_seed)
    assignment = list(assignment)
    failures = 0
    while (
        max(assignment) + 1 > lower
        and failures < STALL_LIMIT
        and time.perf_counter() + REPAIR_SECONDS < deadline
    ):
        count = max(assignment) + 1
        loads = np.zeros((count, len(capacity)))
        for m, g in enumerate(assignment):
            loads[g] += demands[m] / capacity
        fullness = loads.max(axis=1) + loads.sum(axis=1) / len(capacity)
        ranked = [int(g) for g in np.argsort(fullness, kind="stable")]
        pool = ranked[: max(4 * NEIGHBOURHOOD, NEIGHBOURHOOD)]
        chosen = [ranked[0], *rng.sample(pool[1:], min(NEIGHBOURHOOD - 1, len(pool) - 1))]
        models = [m for m, g in enumerate(assignment) if g in chosen]
        placed = _repair(demands, capacity, models, len(chosen) - 1, settings)
        if placed is None:
            failures += 1
            continue
        failures = 0
        for m, g in zip(models, placed, strict=True):
            assignment[m] = chosen[g]
        assignment = _renumber(assignment)
    return assignment


def pack_vector(demands: list[list[int]], capacity: list[int], settings: SolverSettings) -> Packing:
    """Pack a large vector fleet; see the module docstring."""
    deadline = time.perf_counter() + settings.max_time_in_seconds
    d, c = np.asarray(demands, dtype=np.int64), np.asarray(capacity, dtype=np.int64)
    order = decreasing_order(demands, capacity)
    ffd = greedy(d, c, order, best=False)
    bfd = greedy(d, c, order, best=True)
    best = min((ffd, bfd), key=max)
    lower = vector_lower_bound(demands, capacity)
    improved = improve(d, c, best, lower, settings, deadline)
    status = "FEASIBLE" if max(improved) < max(best) else "FFD"
    proven = max(improved) + 1 == lower
    return Packing(
        assignment=tuple(improved),
        lower=lower,
        proven=proven,
        status="OPTIMAL" if proven else status,
        ffd_count=max(ffd) + 1,
    )
