"""Which engine packs a problem: exact one-resource packing, large vector fleets, or x[m, g].

The planner's own CP-SAT model x[m, g] (``vector_packing``) stays the engine for small vector
problems (it also runs the headroom stage). One resource goes to ``one_dimension`` at any size:
bounds and patterns beat x[m, g] from a handful of items up. Vector fleets above
``VECTOR_EXACT_LIMIT`` models go to ``vector_scale``: x[m, g] needs models × GPUs variables, ~7 s to build
at 1,000 models before the search starts.
"""

from __future__ import annotations

from packer.one_dimension import pack_one_dimension
from packer.outcome import PackingOutcome
from packer.problem import SolverSettings
from packer.vector_scale import pack_vector

# Above this many models a vector problem skips x[m, g] (measured: 1,000 seed-like models take
# ~7 s to build and end with a 1.3 % gap at 10 s; 150 solve in about a second).
VECTOR_EXACT_LIMIT = 150


def at_scale(demands: list[list[int]], capacity: list[int]) -> bool:
    """True when ``pack_at_scale`` should pack this problem rather than x[m, g]."""
    return len(capacity) == 1 or len(demands) > VECTOR_EXACT_LIMIT


def pack_at_scale(demands: list[list[int]], capacity: list[int], settings: SolverSettings) -> PackingOutcome:
    """Pack with the engine ``at_scale`` chose."""
    if len(capacity) == 1:
        return pack_one_dimension([d[0] for d in demands], capacity[0], settings)
    return pack_vector(demands, capacity, settings)
