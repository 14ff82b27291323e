"""The plain problem's entry: which engine packs it, by its number of resources and items.

One resource (``min-gpus``) goes to ``one_dimension`` at any size: bounds and patterns beat an
item-to-bin model from a handful of items up. Several resources (``throughput``) go to the vector
pattern engine (``vector_engine``) at any size. Once its GPU count is proven, up to
``HEADROOM_LIMIT`` items, the CP-SAT assignment model x[m, g] (``assignment.level``) takes the
lowest peak utilization at that count (headroom), from the engine's packing; above that, x[m, g]
(models × GPUs variables, ~7 s to build at 1,000 models) costs more than the headroom is worth.
"""

from __future__ import annotations

from packer import work
from packer.binpacking.assignment import level
from packer.binpacking.one_dimension import pack_one_dimension
from packer.binpacking.packing import Packing
from packer.binpacking.vector_engine import pack_vector_exact
from packer.settings import SolverSettings

# Above this many models the headroom stage skips x[m, g] (measured: 1,000 seed-like models take
# ~7 s to build and end with a 1.3 % gap at 10 s; 150 solve in about a second).
HEADROOM_LIMIT = 150


def engine_for(demands: list[list[int]], capacity: list[int]) -> str:
    """``one_dimension`` or ``vector``: the engine ``pack`` uses for this problem."""
    return "one_dimension" if len(capacity) == 1 else "vector"


def pack(
    demands: list[list[int]], capacity: list[int], settings: SolverSettings, headroom: tuple[int, ...] = ()
) -> Packing:
    """Pack integer ``demands`` into the fewest bins of ``capacity``; ``headroom``: resources to level.

    The headroom stage (lowest peak load on those resources at the fewest bins) runs on a proven
    vector packing of up to ``HEADROOM_LIMIT`` items. Every step ends by one deadline on the work
    clock (``packer.work``): ``settings.max_time_in_seconds`` units from now; called outside a plan,
    the engine meters its own work, ``settings.deadline`` (monotonic) its wall-clock cap.
    """
    with work.until(settings.max_time_in_seconds, settings.deadline) as deadline:
        if engine_for(demands, capacity) == "one_dimension":
            return pack_one_dimension([d[0] for d in demands], capacity[0], settings)
        packing = pack_vector_exact(demands, capacity, settings)
        if headroom and packing.proven and packing.count > 1 and len(demands) <= HEADROOM_LIMIT:
            if work.now() < deadline:
                return level(demands, capacity, packing, settings, headroom, deadline)
        return packing
