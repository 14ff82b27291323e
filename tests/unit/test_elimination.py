"""Bin elimination: valid packings, never more bins than its start, deterministic, beats FFD."""

from __future__ import annotations

import time

from packer.binpacking.elimination import eliminate
from packer.binpacking.fit import decreasing, first_fit

SIZES = [5, 5, 4, 4, 3, 3, 3, 3]  # sum 30: two full bins of 15 (5+4+3+3 twice)
CAPACITY = 15


def loads(sizes: list[int], assignment: list[int]) -> list[int]:
    totals = [0] * (max(assignment) + 1)
    for size, b in zip(sizes, assignment, strict=True):
        totals[b] += size
    return totals


def test_elimination_empties_the_bin_first_fit_decreasing_wastes():
    ffd = first_fit(SIZES, CAPACITY, decreasing(SIZES))
    assert max(ffd) + 1 == 3
    packed = eliminate(SIZES, CAPACITY, ffd, 2, time.monotonic() + 5, seed=0)
    assert max(packed) + 1 == 2
    assert all(load <= CAPACITY for load in loads(SIZES, packed))
    assert sorted(set(packed)) == [0, 1]


def test_elimination_never_returns_more_bins_and_keeps_every_item():
    sizes = [7, 6, 6, 5, 5, 4, 4, 3, 2, 2, 1]
    start = first_fit(sizes, 10, decreasing(sizes))
    packed = eliminate(sizes, 10, start, 1, time.monotonic() + 0.5, seed=3)
    assert len(packed) == len(sizes)
    assert max(packed) <= max(start)
    assert all(load <= 10 for load in loads(sizes, packed))


def test_elimination_that_reaches_the_bound_is_deterministic_for_a_seed():
    ffd = first_fit(SIZES, CAPACITY, decreasing(SIZES))
    first = eliminate(SIZES, CAPACITY, ffd, 2, time.monotonic() + 5, seed=7)
    second = eliminate(SIZES, CAPACITY, ffd, 2, time.monotonic() + 5, seed=7)
    assert first == second
