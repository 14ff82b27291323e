r"""CP-SAT model: place every model on the fewest identical GPUs (vector bin packing).

Both objectives use it: ``min-gpus`` packs one resource (GPU memory), ``throughput`` packs three
(memory, GPU utilization, memory-controller utilization) and then, among plans with that fewest
number of GPUs, takes one with the lowest peak per-GPU utilization (headroom).

Sets
    M            models, sorted largest first (``ffd.decreasing_order``)
    G = 0..U-1   candidate GPUs; U = first-fit decreasing's GPU count (an upper bound)
    R            packed resources; P ⊆ R the utilization resources (headroom stage)

Parameters
----------
    d[m, r] ≥ 0  model m's own demand of resource r (server removed), integer, 1/100 units
    C[r] > 0     room for models on one GPU: threshold × capacity − server
    L            a lower bound on the GPU count (``Problem.lower_bound``)
AssignmentVars
    x[m, g] ∈ {0, 1}   model m runs on GPU g
    u[g] ∈ {0, 1}      GPU g is used
    p ≥ 0              peak utilization (headroom stage only)
Stage 1 objective
    minimize  Σ_g u[g]
Constraints
    (1) Σ_g x[m, g] = 1                       ∀ m          every model placed once
    (2) Σ_m d[m, r] · x[m, g] ≤ C[r] · u[g]   ∀ g, r       capacity, only on used GPUs
    (3) x[m, g] ≤ u[g]                        ∀ m, g       models only on used GPUs
    (4) u[g] ≥ u[g + 1]                       ∀ g < U − 1  used GPUs come first (symmetry)
    (5) x[m, g] = 0                           ∀ g > m      GPU g is named after its first model
                                                           in size order (symmetry)
    (6) Σ_g u[g] ≥ L                                       the bound, given to the solver
Stage 2 (headroom), with K the stage-1 optimum
    (7) Σ_g u[g] = K
    (8) Σ_m d[m, r] · x[m, g] ≤ p             ∀ g, r ∈ P
    minimize  p

"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ortools.sat.python import cp_model

from packer import cpsat
from packer.binpacking.ffd import decreasing_order
from packer.binpacking.packing import Packing, numbered_by_first_use
from packer.settings import SolverSettings
from profiler import GpupackError

FEWEST = cpsat.Stage("fewest GPUs, CP-SAT", "GPUs")


@dataclass(frozen=True)
class AssignmentVars:
    """The decision variables of one built assignment model."""

    x: dict[tuple[int, int], cp_model.IntVar]
    used: list[cp_model.IntVar]
    peak: cp_model.IntVar | None


def build_model(
    demands: list[list[int]],
    capacity: list[int],
    order: list[int],
    upper: int,
    lower: int,
    headroom: tuple[int, ...] = (),
    gpus: int | None = None,
) -> tuple[cp_model.CpModel, AssignmentVars]:
    """Build stage 1 (``gpus`` None) or stage 2 (``gpus`` = K, ``headroom`` = indices of P)."""
    model = cp_model.CpModel()
    rank = {m: k for k, m in enumerate(order)}
    gpu_range = range(upper)
    # x[m, g] = 1 if model m runs on GPU g; (5) only GPUs up to m's rank in size order exist.
    x = {
        (m, g): model.new_bool_var(f"x[{m},{g}]")
        for m in range(len(demands))
        for g in gpu_range
        if g <= rank[m]
    }
    # used[g] = 1 if GPU g runs at least one model.
    used = [model.new_bool_var(f"used[{g}]") for g in gpu_range]
    # (1) every model placed once
    for m in range(len(demands)):
        model.add_exactly_one(x[m, g] for g in gpu_range if (m, g) in x)
    for g in gpu_range:
        on_g = [m for m in range(len(demands)) if (m, g) in x]
        # (2) capacity per resource, only on used GPUs
        for r, cap in enumerate(capacity):
            model.add(sum(demands[m][r] * x[m, g] for m in on_g) <= cap * used[g])
        # (3) models only on used GPUs
        for m in on_g:
            model.add_implication(x[m, g], used[g])
    # (4) used GPUs come first
    for g in range(upper - 1):
        model.add(used[g] >= used[g + 1])
    peak = None
    if gpus is None:
        # (6) the lower bound
        model.add(sum(used) >= lower)
        model.minimize(sum(used))
    else:
        # (7) keep the fewest GPUs
        model.add(sum(used) == gpus)
        # p = peak load of any utilization resource on any GPU
        peak = model.new_int_var(0, max(capacity[r] for r in headroom), "peak")
        for g in gpu_range:
            for r in headroom:
                # (8) every GPU's utilization is at most the peak
                model.add(sum(demands[m][r] * x[m, g] for m in range(len(demands)) if (m, g) in x) <= peak)
        model.minimize(peak)
    return model, AssignmentVars(x=x, used=used, peak=peak)


def add_hint(model: cp_model.CpModel, variables: AssignmentVars, assignment: list[int]) -> None:
    """Warm-start from ``assignment`` (e.g. first-fit decreasing's, numbered as ``ffd`` does)."""
    for (m, g), var in variables.x.items():
        model.add_hint(var, assignment[m] == g)
    opened = set(assignment)
    for g, var in enumerate(variables.used):
        model.add_hint(var, g in opened)


def solve(
    model: cp_model.CpModel, settings: SolverSettings, stage: cpsat.Stage | None = None
) -> cp_model.CpSolver:
    """Run CP-SAT with ``settings`` (``cpsat.run``); returns the solver holding the result."""
    return cpsat.run(model, settings, stage=stage)


def extract(
    solver: cp_model.CpSolver, variables: AssignmentVars, n_models: int
) -> tuple[list[int], int] | None:
    """The GPU per model (input order) and CP-SAT's proven bound, ``None`` if it found no solution.

    INFEASIBLE or MODEL_INVALID would contradict first-fit decreasing's packing: a bug, so it raises.
    """
    status = solver.status_name()
    if status in ("MODEL_INVALID", "INFEASIBLE"):
        raise GpupackError(f"CP-SAT reported {status} for a model that first-fit decreasing solved")
    if status not in ("OPTIMAL", "FEASIBLE"):
        return None
    assignment = [-1] * n_models
    for (m, g), var in variables.x.items():
        if solver.boolean_value(var):
            assignment[m] = g
    return assignment, int(round(solver.best_objective_bound))


def _numbered_by_first_model(assignment: tuple[int, ...], order: list[int]) -> list[int]:
    """GPUs renumbered in the order their first model comes in ``order`` (x[m, g]'s symmetry (5))."""
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
) -> Packing:
    """Stage 2 on another engine's proven packing: the lowest peak load on ``headroom`` at its count."""
    order = decreasing_order(demands, capacity)
    count = packing.count
    model, variables = build_model(demands, capacity, order, count, packing.lower, headroom, gpus=count)
    add_hint(model, variables, _numbered_by_first_model(packing.assignment, order))
    solver = solve(model, settings)
    found = extract(solver, variables, len(demands))
    if found is None:
        return packing
    notes = packing.notes
    if solver.status_name() != "OPTIMAL":
        notes += ("headroom (lowest peak utilization) not proven within the time limit",)
    return dataclasses.replace(packing, assignment=tuple(numbered_by_first_use(found[0])), notes=notes)
