"""Lower bounds: L1, Martello–Toth L2 on hand-computed cases, and the vector bound."""

from __future__ import annotations

import pytest

from packer.binpacking.bounds import l1_bound, l2_bound, vector_lower_bound


def test_l1_is_the_ceiling_of_total_size_over_capacity():
    assert l1_bound([6, 6, 6, 4, 4, 4], 10) == 3
    assert l1_bound([], 10) == 0


def test_l2_counts_items_above_half_that_small_items_cannot_join():
    # Three 99s need a bin each; the 2 fits beside none of them (K = 2: N1 = {99, 99, 99}).
    assert l1_bound([99, 99, 99, 2], 100) == 3
    assert l2_bound([99, 99, 99, 2], 100) == 4


def test_l2_uses_the_room_left_beside_mid_sized_items():
    # K = 30: N2 = {60, 60} leaves 80 of room, N3 = {40, 40, 30, 30} needs 140: one more bin.
    assert l2_bound([60, 60, 40, 40, 30, 30], 100) == 3


def test_l2_equals_l1_when_nothing_is_large():
    assert l2_bound([30, 30, 30, 30], 100) == 2


def test_l2_refuses_an_item_larger_than_the_capacity():
    with pytest.raises(ValueError, match="exceeds the capacity"):
        l2_bound([11], 10)


def test_vector_bound_is_the_largest_per_resource_bound():
    demands = [[10, 60], [10, 60], [10, 60]]
    assert vector_lower_bound(demands, [100, 100]) == 3
    assert vector_lower_bound([], [100]) == 0
