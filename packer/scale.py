"""Which engine packs a problem: exact one-resource packing or the vector engine; and where x[m, g] fits.

One resource goes to ``one_dimension`` at any size: bounds and patterns beat x[m, g] from a handful
of items up. Several resources go to ``binpacking.vector_engine`` at any size (pattern LP bound,
full-bin search, diving, local search to the deadline): it beats x[m, g] from 60 models up and the
greedy + repair of ``vector_scale`` on large fleets (benchmarks/results/vector.md). The planner's
CP-SAT model x[m, g] (``vector_packing``) still runs the headroom stage on the engine's packing, up
to ``VECTOR_EXACT_LIMIT`` models: x[m, g] needs models × GPUs variables, ~7 s to build at 1,000.
"""

from __future__ import annotations

from packer.binpacking.vector_engine import pack_vector_exact
from packer.one_dimension import pack_one_dimension
from packer.outcome import PackingOutcome
from packer.problem import SolverSettings

# Above this many models the headroom stage (x[m, g]) is skipped (measured: 1,000 seed-like models
# take ~7 s to build; 150 solve in about a second).
VECTOR_EXACT_LIMIT = 150


def at_scale(demands: list[list[int]], capacity: list[int]) -> bool:
    """True when the headroom stage (x[m, g]) does not run: one resource, or above the model limit."""
    return len(capacity) == 1 or len(demands) > VECTOR_EXACT_LIMIT


def pack_at_scale(demands: list[list[int]], capacity: list[int], settings: SolverSettings) -> PackingOutcome:
    """Pack with the one-resource engine or the vector engine."""
    if len(capacity) == 1:
        return pack_one_dimension([d[0] for d in demands], capacity[0], settings)
    return pack_vector_exact(demands, capacity, settings)
