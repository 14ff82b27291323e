"""First-fit decreasing for vector bin packing: the upper bound, the warm start and the fallback."""

from __future__ import annotations


def decreasing_order(demands: list[list[int]], capacity: list[int]) -> list[int]:
    """Item indices, largest first: by the largest share of any one resource, then by index."""
    return sorted(
        range(len(demands)),
        key=lambda i: (-max(d / c for d, c in zip(demands[i], capacity, strict=True)), i),
    )


def first_fit_decreasing(demands: list[list[int]], capacity: list[int]) -> list[int]:
    """Bin index per item: each item, largest first, goes into the first bin with room in every resource.

    Bins are numbered in the order they open, so bin ``k`` opens with the ``k``-th or a later item in
    ``decreasing_order``; the CP-SAT models' symmetry breaking accepts this numbering as a hint.
    """
    loads: list[list[int]] = []
    assignment = [-1] * len(demands)
    for i in decreasing_order(demands, capacity):
        fits = (
            b
            for b, load in enumerate(loads)
            if all(used + d <= c for used, d, c in zip(load, demands[i], capacity, strict=True))
        )
        b = next(fits, len(loads))
        if b == len(loads):
            loads.append([0] * len(capacity))
        loads[b] = [used + d for used, d in zip(loads[b], demands[i], strict=True)]
        assignment[i] = b
    return assignment
