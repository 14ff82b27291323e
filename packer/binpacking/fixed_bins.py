r"""CP-SAT's "these items into K bins": the one x[i, b] model, for both engines and their searches.

Sets
    I            items, in the order given (largest first: the symmetry (3) needs it);  B = 0..K-1
Parameters
    w[i, r] ≥ 0  integer demand of item i in resource r;  C[r] capacity;  K the bins offered
Variables
    x[i, b] ∈ {0, 1}   item i goes into bin b
Constraints
    (1) Σ_b x[i, b] = 1               ∀ i           every item in one bin
    (2) Σ_i w[i, r]·x[i, b] ≤ C[r]    ∀ b, r        capacity
    (3) x[i, b] = 0                   ∀ b > i       bin b is named after its largest item (symmetry)
No objective here: any solution is a packing into at most K bins. The users add theirs:

- ``search`` (one-resource step 6, vector step 8), K = the lower bound: a solution meets the bound
  and so is optimal; INFEASIBLE proves K + 1 a lower bound;
- ``vector_search``'s repair: a neighbourhood's items back into its bins;
- ``assignment.level``: K = a proven count, and the lowest peak utilization over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from packer import cpsat, work
from packer.binpacking.packing import numbered_by_first_use
from packer.settings import SolverSettings

# Above this many items the x[i, b] model is too large to settle anything within seconds: one
# resource (single capacity rows propagate well), and several (three rows a bin, weaker cuts).
MAX_ITEMS = 300
VECTOR_MAX_ITEMS = 120

# Work to build the model, per x[i, b] variable with its constraints (~16 µs on the reference host:
# the vector local search's 717 repairs at 2,000 models took 4.5 s to build where 8 µs charged 2.2).
BUILD_S_PER_VARIABLE = 1.6e-5

Bins = dict[tuple[int, int], cp_model.IntVar]


def max_items(resources: int) -> int:
    """Most items ``search`` is worth running on, for this many resources."""
    return MAX_ITEMS if resources == 1 else VECTOR_MAX_ITEMS


def build_model(
    sizes: Sequence[Sequence[int]], capacity: Sequence[int], bins: int
) -> tuple[cp_model.CpModel, Bins]:
    """The model (1)–(3) for items ``sizes`` (rows, largest first) and ``bins`` = K."""
    model = cp_model.CpModel()
    n = len(sizes)
    # x[i, b] = 1 if item i goes into bin b; (3) only bins up to i exist for item i.
    x = {(i, b): model.new_bool_var(f"x[{i},{b}]") for i in range(n) for b in range(min(i + 1, bins))}
    for i in range(n):
        # (1) every item in one bin
        model.add_exactly_one(x[i, b] for b in range(min(i + 1, bins)))
    for b in range(bins):
        for r, cap in enumerate(capacity):
            terms = [int(sizes[i][r]) * x[i, b] for i in range(b, n) if sizes[i][r]]
            if terms:
                # (2) capacity
                model.add(sum(terms) <= int(cap))
    work.spend(BUILD_S_PER_VARIABLE * len(x))
    return model, x


def extract(solver: cp_model.CpSolver, x: Bins, n_items: int) -> list[int] | None:
    """The bin per item (in the model's order) when CP-SAT found a solution, else None.

    INFEASIBLE and UNKNOWN (time limit) have no packing; MODEL_INVALID would be a bug in
    ``build_model`` and raises.
    """
    status = solver.status_name()
    if status == "MODEL_INVALID":
        raise ValueError("CP-SAT rejected the fixed-bins model as invalid")
    if status not in ("OPTIMAL", "FEASIBLE"):
        return None
    assignment = [-1] * n_items
    for (i, b), var in x.items():
        if solver.boolean_value(var):
            assignment[i] = b
    return assignment


@dataclass(frozen=True)
class FixedBins:
    """``search``'s outcome: a packing into K bins (items in input order) or None, and the bound it proves."""

    assignment: list[int] | None
    lower: int


def search(
    demands: Sequence[Sequence[int]],
    capacity: Sequence[int],
    order: Sequence[int],
    bins: int,
    settings: SolverSettings,
    deadline: float,
) -> FixedBins:
    """CP-SAT on (1)–(3) for K = ``bins`` until ``deadline`` (work clock); ``order``: items largest first."""
    model, x = build_model([demands[i] for i in order], capacity, bins)
    seconds = deadline - work.now()
    solver = cpsat.run(model, settings, seconds, cpsat.Stage("fixed-bin search, CP-SAT"))
    if solver.status_name() == "INFEASIBLE":
        return FixedBins(None, bins + 1)
    ranked = extract(solver, x, len(order))
    if ranked is None:
        return FixedBins(None, bins)  # UNKNOWN: the time ran out
    assignment = [-1] * len(order)
    for rank, i in enumerate(order):
        assignment[i] = ranked[rank]
    return FixedBins(numbered_by_first_use(assignment), bins)
