"""The plain problem's entry: which engine packs it, by its number of resources and items.

One resource (``min-gpus``) goes to ``one_dimension`` at any size: bounds and patterns beat an
item-to-bin model from a handful of items up. Several resources (``throughput``) go to the CP-SAT
assignment model x[m, g] (``assignment``, which also runs the headroom stage) up to
``VECTOR_EXACT_LIMIT`` items; larger vector fleets to greedy packings repaired by CP-SAT
(``repair``): x[m, g] needs models × GPUs variables, ~7 s to build at 1,000 models.
"""

from __future__ import annotations

from packer.binpacking.assignment import pack_assignment
from packer.binpacking.one_dimension import pack_one_dimension
from packer.binpacking.packing import Packing
from packer.binpacking.repair import pack_vector
from packer.settings import SolverSettings

# Above this many models a vector problem skips x[m, g] (measured: 1,000 seed-like models take
# ~7 s to build and end with a 1.3 % gap at 10 s; 150 solve in about a second).
VECTOR_EXACT_LIMIT = 150


def engine_for(demands: list[list[int]], capacity: list[int]) -> str:
    """``one_dimension``, ``assignment`` or ``repair``: the engine ``pack`` uses for this problem."""
    if len(capacity) == 1:
        return "one_dimension"
    return "repair" if len(demands) > VECTOR_EXACT_LIMIT else "assignment"


def pack(
    demands: list[list[int]], capacity: list[int], settings: SolverSettings, headroom: tuple[int, ...] = ()
) -> Packing:
    """Pack integer ``demands`` into the fewest bins of ``capacity``; ``headroom``: resources to level.

    The headroom stage (lowest peak load on those resources at the fewest bins) runs in the
    assignment model only.
    """
    engine = engine_for(demands, capacity)
    if engine == "one_dimension":
        return pack_one_dimension([d[0] for d in demands], capacity[0], settings)
    if engine == "repair":
        return pack_vector(demands, capacity, settings)
    return pack_assignment(demands, capacity, settings, headroom)
