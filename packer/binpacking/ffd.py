"""First-fit decreasing for vector bin packing: the upper bound, the warm start and the fallback."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from packer.binpacking.greedy import greedy


def decreasing_order(demands: Sequence[Sequence[int]], capacity: Sequence[int]) -> list[int]:
    """Item indices, largest first: by the largest share of any one resource, then by index."""
    return sorted(
        range(len(demands)),
        key=lambda i: (-max(d / c for d, c in zip(demands[i], capacity, strict=True)), i),
    )


def first_fit_decreasing(demands: Sequence[Sequence[int]], capacity: Sequence[int]) -> list[int]:
    """Bin index per item: each item, largest first, goes into the first bin with room in every resource.

    Bins are numbered in the order they open, so bin ``k`` opens with the ``k``-th or a later item in
    ``decreasing_order``; the CP-SAT models' symmetry breaking accepts this numbering as a hint.
    """
    if not demands:
        return []
    sizes = np.asarray(demands, dtype=np.int64).reshape(len(demands), len(capacity))
    return greedy(sizes, np.asarray(capacity, dtype=np.int64), decreasing_order(demands, capacity), "first")
