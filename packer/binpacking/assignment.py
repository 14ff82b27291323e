r"""Headroom: the lowest peak utilization at a proven GPU count, by CP-SAT on the fixed-bins model.

The ``throughput`` objective packs three resources (memory, GPU utilization, memory-controller
utilization); once an engine has proven the fewest GPUs K, this stage takes, among packings into
K GPUs, one with the lowest peak per-GPU utilization.

Sets
    M            models, sorted largest first (``ffd.decreasing_order``);  G = 0..K-1 GPUs
    R            packed resources; P ⊆ R the utilization resources
Parameters
    d[m, r] ≥ 0  model m's own demand of resource r (server removed), integer, 1/100 units
    C[r] > 0     room for models on one GPU: threshold × capacity − server
Variables
    x[m, g] ∈ {0, 1}   model m runs on GPU g (``fixed_bins``' x[i, b], with its (1)–(3))
    p ≥ 0              peak utilization
Objective
    minimize  p
Constraints
    (1)–(3) of ``fixed_bins``: every model on one GPU, capacity, GPU g named after its first model
    (4) Σ_m d[m, r] · x[m, g] ≤ p             ∀ g, r ∈ P
Warm start (``add_hint``): the engine's packing, GPUs renumbered by their first model in size order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ortools.sat.python import cp_model

from packer import cpsat, work
from packer.binpacking import fixed_bins
from packer.binpacking.ffd import decreasing_order
from packer.binpacking.packing import Packing, numbered_by_first_use
from packer.settings import SolverSettings

LEVEL = cpsat.Stage("lowest peak utilization, CP-SAT", "%", 100.0)


def build_model(
    demands: Sequence[Sequence[int]],
    capacity: Sequence[int],
    order: Sequence[int],
    gpus: int,
    headroom: Sequence[int],
) -> tuple[cp_model.CpModel, fixed_bins.Bins, cp_model.IntVar]:
    """The model: ``fixed_bins``' (1)–(3) for the models in ``order`` into ``gpus`` GPUs, then (4)."""
    ranked = [demands[m] for m in order]
    model, x = fixed_bins.build_model(ranked, capacity, gpus)
    # p = peak load of any utilization resource on any GPU
    peak = model.new_int_var(0, max(capacity[r] for r in headroom), "peak")
    for g in range(gpus):
        for r in headroom:
            # (4) every GPU's utilization is at most the peak
            model.add(sum(ranked[i][r] * x[i, g] for i in range(g, len(ranked))) <= peak)
    model.minimize(peak)
    return model, x, peak


def add_hint(model: cp_model.CpModel, x: fixed_bins.Bins, ranked: Sequence[int]) -> None:
    """Warm-start from a packing given as the GPU of each model in size order."""
    for (i, g), var in x.items():
        model.add_hint(var, ranked[i] == g)


def _numbered_by_first_model(assignment: Sequence[int], order: Sequence[int]) -> list[int]:
    """GPUs renumbered in the order their first model comes in ``order`` (the symmetry (3))."""
    number: dict[int, int] = {}
    for m in order:
        number.setdefault(assignment[m], len(number))
    return [number[g] for g in assignment]


def level(
    demands: list[list[int]],
    capacity: list[int],
    packing: Packing,
    settings: SolverSettings,
    headroom: tuple[int, ...],
    deadline: float,
) -> Packing:
    """The lowest peak load on ``headroom`` at ``packing``'s count, by ``deadline`` (``packer.work``)."""
    order = decreasing_order(demands, capacity)
    model, x, _ = build_model(demands, capacity, order, packing.count, headroom)
    numbered = _numbered_by_first_model(packing.assignment, order)
    add_hint(model, x, [numbered[m] for m in order])
    solver = cpsat.run(model, settings, deadline - work.now(), LEVEL)
    ranked = fixed_bins.extract(solver, x, len(order))
    if ranked is None:
        return packing
    assignment = [-1] * len(demands)
    for rank, m in enumerate(order):
        assignment[m] = ranked[rank]
    notes = packing.notes
    if solver.status_name() != "OPTIMAL":
        notes += ("headroom (lowest peak utilization) not proven within the time limit",)
    return dataclasses.replace(packing, assignment=tuple(numbered_by_first_use(assignment)), notes=notes)
