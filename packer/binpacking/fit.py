"""First-fit and best-fit decreasing for one resource: the greedy rules of ``greedy`` with R = {0}.

Bins are numbered in the order they open, as ``ffd.first_fit_decreasing`` numbers them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from packer.binpacking.greedy import greedy


def decreasing(sizes: Sequence[int]) -> list[int]:
    """Item indices by size, largest first, ties by index (the order ``ffd.decreasing_order`` uses)."""
    return sorted(range(len(sizes)), key=lambda i: (-sizes[i], i))


def _greedy(sizes: Sequence[int], capacity: int, order: Sequence[int], rule: str) -> list[int]:
    column = np.asarray(sizes, dtype=np.int64).reshape(len(sizes), 1)
    return greedy(column, np.asarray([capacity], dtype=np.int64), order, rule)


def first_fit(sizes: Sequence[int], capacity: int, order: Sequence[int]) -> list[int]:
    """Bin per item: each item, in ``order``, into the first bin with room."""
    return _greedy(sizes, capacity, order, "first")


def best_fit(sizes: Sequence[int], capacity: int, order: Sequence[int]) -> list[int]:
    """Bin per item: each item, in ``order``, into the fullest bin with room (lowest index on ties)."""
    return _greedy(sizes, capacity, order, "best")
