r"""Greedy packings, the engines' upper bounds: each item, in an order, into a bin with room, else a new one.

Parameters as in ``item_types``: w[i, r], C[r]; a bin has room for i when load[r] + w[i, r] ≤ C[r] ∀ r.
The rules choose among the bins with room:
    first fit    the first such bin (the rule of first-fit decreasing, reported as FFD)
    best fit     the fullest such bin, by Σ_r load[r] / C[r]
    dot product  the bin whose load has the largest dot product with the item's shares (Panigrahy et
                 al. 2011, "Heuristics for vector bin packing"): items go where they complement the load.
                 With one resource it picks the fullest bin, as best fit does, so it is left out there.
Each item scans the open bins in one vectorized step: 10,000 items into thousands of bins take a
fraction of a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from packer import work
from packer.binpacking.item_types import ItemTypes, Pattern, size_key

# The greedy rules, tried in this order; the first one is first-fit decreasing.
RULES = ("first", "best", "dot")
# Work per item placed and per (item, open bin) cell scanned (NumPy; measured on the reference host).
ITEM_S = 1e-5
CELL_S = 7e-10


def rules_for(resources: int) -> tuple[str, ...]:
    """The rules worth trying: with one resource dot product is best fit (see the docstring)."""
    return RULES if resources > 1 else ("first", "best")


def greedy(sizes: np.ndarray, capacity: np.ndarray, order: Sequence[int], rule: str) -> list[int]:
    """Bin per item (rows of ``sizes``), placing items in ``order`` by ``rule`` (see the docstring).

    The room is kept a row per resource (contiguous over bins): the test "fits in every resource"
    is then R comparisons of contiguous arrays, ~15× faster than one over a bins × R array.
    """
    resources = range(len(capacity))
    room = np.repeat(np.asarray(capacity, dtype=np.int64)[:, None], max(len(order), 1), axis=1)
    shares = sizes / capacity
    assignment = [-1] * len(sizes)
    opened = 0
    for i in order:
        size = sizes[i]
        fits = room[0, :opened] >= size[0]
        for r in resources[1:]:
            fits &= room[r, :opened] >= size[r]
        if not fits.any():
            b = opened
            opened += 1
        elif rule == "first":
            b = int(np.argmax(fits))
        else:
            weight = np.ones(len(capacity)) if rule == "best" else shares[i]
            score = sum(weight[r] * (1.0 - room[r, :opened] / capacity[r]) for r in resources)
            b = int(np.argmax(np.where(fits, score, -1.0)))
        room[:, b] -= size
        assignment[i] = b
    work.spend(len(order) * (ITEM_S + CELL_S * opened * len(capacity)))
    return assignment


def greedy_packings(
    demands: Sequence[Sequence[int]], capacity: Sequence[int], deadline: float = math.inf
) -> list[list[int]]:
    """One packing per rule of ``rules_for``, items largest first (``size_key``); the first is FFD's.

    A rule runs only before ``deadline`` (``packer.work``): none may come back.
    """
    order = sorted(range(len(demands)), key=lambda i: (*size_key(demands[i], capacity), i))
    sizes = np.asarray(demands, dtype=np.int64).reshape(len(demands), len(capacity))
    cap = np.asarray(capacity, dtype=np.int64)
    packings: list[list[int]] = []
    for rule in rules_for(len(capacity)):
        if work.now() >= deadline:
            break
        packings.append(greedy(sizes, cap, order, rule))
    return packings


def pack_residual(
    types: ItemTypes, demand: Sequence[int], rules: Sequence[str] | None = None
) -> list[Pattern]:
    """Bins (patterns) for the items ``demand`` still holds per type: the best of ``rules``.

    Types are largest first, so the items go in decreasing order. ``rules`` default to ``rules_for``.
    """
    items = [t for t, d in enumerate(demand) for _ in range(d)]
    if not items:
        return []
    sizes = types.array()[items]
    cap = np.asarray(types.capacity, dtype=np.int64)
    best: list[Pattern] = []
    for rule in rules or rules_for(len(types.capacity)):
        assignment = greedy(sizes, cap, range(len(items)), rule)
        if best and max(assignment) + 1 >= len(best):
            continue
        bins = [[0] * len(demand) for _ in range(max(assignment) + 1)]
        for t, b in zip(items, assignment, strict=True):
            bins[b][t] += 1
        best = [tuple(b) for b in bins]
    return best
