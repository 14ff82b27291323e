"""The bin-packing engines end by their deadline on large fleets, with a valid packing and an honest bound.

Shapes, not tight timings: the CI machine is a loaded 2-core box, so a 1 s limit must return within
``SLACK`` times that (the packing every engine always computes, first-fit decreasing, takes ~0.1 s
at 10,000 models; before the deadlines, the vector engine took ~30 s on a 5 s limit here).
"""

from __future__ import annotations

import random
import time

import numpy as np

from packer.binpacking.engines import pack
from packer.binpacking.packing import Packing
from packer.settings import SolverSettings

# A 1 s limit returns within this many seconds.
SLACK = 4.0


def fleet(models: int, resources: int, seed: int = 1) -> tuple[list[list[int]], list[int]]:
    """Random models: memory 0.4–9 GB of 16 GB, utilizations 5–80 % (hundredths), as issue 20's."""
    rng = random.Random(seed)
    capacity = [1_600_000, 10_000, 10_000][:resources]
    demands = [
        [rng.randint(40_000, 900_000), rng.randint(500, 8_000), rng.randint(500, 8_000)][:resources]
        for _ in range(models)
    ]
    return demands, capacity


def assert_valid(demands: list[list[int]], capacity: list[int], packing: Packing) -> None:
    """Every model in one bin 0..k-1, every bin within capacity, the bound at most the count."""
    assert len(packing.assignment) == len(demands)
    loads = np.zeros((packing.count, len(capacity)), dtype=np.int64)
    np.add.at(loads, np.asarray(packing.assignment), np.asarray(demands, dtype=np.int64))
    assert (loads <= np.asarray(capacity)).all()
    assert 1 <= packing.lower <= packing.count <= packing.ffd_count


def test_vector_engine_on_ten_thousand_models_returns_by_a_one_second_limit_with_a_valid_packing():
    demands, capacity = fleet(10_000, 3)
    started = time.monotonic()
    packing = pack(demands, capacity, SolverSettings(max_time_in_seconds=1.0), headroom=(1, 2))
    assert time.monotonic() - started < SLACK
    assert_valid(demands, capacity, packing)
    assert not packing.proven or packing.count == packing.lower


def test_one_resource_engine_on_ten_thousand_fine_sizes_returns_by_a_one_second_limit():
    demands, capacity = fleet(10_000, 1)
    started = time.monotonic()
    packing = pack(demands, capacity, SolverSettings(max_time_in_seconds=1.0))
    assert time.monotonic() - started < SLACK
    assert_valid(demands, capacity, packing)


def test_an_absolute_deadline_overrides_the_time_limit():
    demands, capacity = fleet(3_000, 3, seed=2)
    started = time.monotonic()
    settings = SolverSettings(max_time_in_seconds=600.0, deadline=started + 1.0)
    packing = pack(demands, capacity, settings, headroom=(1, 2))
    assert time.monotonic() - started < SLACK
    assert_valid(demands, capacity, packing)


def test_a_deadline_already_past_still_gets_first_fit_decreasing():
    demands, capacity = fleet(500, 3, seed=3)
    packing = pack(demands, capacity, SolverSettings(deadline=time.monotonic() - 1.0), headroom=(1, 2))
    assert_valid(demands, capacity, packing)
    assert packing.count == packing.ffd_count
