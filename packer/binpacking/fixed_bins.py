r"""CP-SAT feasibility search: can the items go into exactly K bins? The last one-resource step.

Sets
    I            items, sorted largest first;  B = 0..K-1 bins
Parameters
    w[i] > 0     size of item i;  C capacity;  K the bin count tested (the lower bound)
Variables
    x[i, b] ∈ {0, 1}   item i goes into bin b
Constraints
    (1) Σ_b x[i, b] = 1               ∀ i          every item in one bin
    (2) Σ_i w[i]·x[i, b] ≤ C          ∀ b          capacity
    (3) x[i, b] = 0                   ∀ b > i      bin b is named after its largest item (symmetry)
No objective: any solution meets the lower bound and so is optimal. The search is worth it only
for a few hundred items; ``MAX_ITEMS`` caps it.
"""

from __future__ import annotations

from ortools.sat.python import cp_model

from packer import cpsat
from packer.settings import SolverSettings

# Above this many items the x[i, b] model is too large to help within seconds.
MAX_ITEMS = 300


def build_model(
    sizes: list[int], capacity: int, bins: int
) -> tuple[cp_model.CpModel, dict[tuple[int, int], cp_model.IntVar]]:
    """The model (1)–(3) for ``sizes`` sorted largest first and ``bins`` = K."""
    model = cp_model.CpModel()
    # x[i, b] = 1 if item i goes into bin b; (3) only bins up to i exist for item i.
    x = {
        (i, b): model.new_bool_var(f"x[{i},{b}]") for i in range(len(sizes)) for b in range(min(i + 1, bins))
    }
    for i in range(len(sizes)):
        # (1) every item in one bin
        model.add_exactly_one(x[i, b] for b in range(min(i + 1, bins)))
    for b in range(bins):
        # (2) capacity
        model.add(sum(sizes[i] * x[i, b] for i in range(b, len(sizes))) <= capacity)
    return model, x


def solve(model: cp_model.CpModel, settings: SolverSettings, seconds: float) -> cp_model.CpSolver:
    """Run CP-SAT for at most ``seconds`` with the plan's workers and seed (``cpsat.run``)."""
    return cpsat.run(model, settings, seconds, cpsat.Stage("fixed-bin search, CP-SAT"))


def extract(
    solver: cp_model.CpSolver, x: dict[tuple[int, int], cp_model.IntVar], n_items: int
) -> tuple[str, list[int] | None]:
    """The status, and the bin per item (in the sorted order) when CP-SAT found a K-bin packing.

    INFEASIBLE proves no K-bin packing exists; UNKNOWN (time limit) proves nothing; neither has
    a packing. MODEL_INVALID would be a bug in ``build_model`` and raises.
    """
    status = solver.status_name()
    if status == "MODEL_INVALID":
        raise ValueError("CP-SAT rejected the fixed-bins model as invalid")
    if status not in ("OPTIMAL", "FEASIBLE"):
        return status, None
    assignment = [-1] * n_items
    for (i, b), var in x.items():
        if solver.boolean_value(var):
            assignment[i] = b
    return status, assignment
