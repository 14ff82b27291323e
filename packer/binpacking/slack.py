r"""Minimum bin slack (MBS'), an upper-bound heuristic that fills one bin at a time as full as possible.

Fleszar and Hindi (2002), "New heuristics for one-dimensional bin-packing", after Gupta and Ho
(1999): open a bin with the largest item left, then add the subset of the remaining items that
leaves the least slack; repeat until no item is left. Each bin is one subset-sum problem, solved
exactly here by dynamic programming over capacities (a NumPy boolean row per item):

    (1) reach[k, c] = reach[k − 1, c] or reach[k − 1, c − w[k]]     c = 0..C − w[first]
    (2) the bin takes the largest c with reach[n, c], traced back through the rows.

Items of equal size are interchangeable, so the rows run over item types with a count each
(binary chunks 1, 2, 4, ... of a type's copies, as in ``knapsack_pricing.price``). Each bin costs
a table of about types × capacity cells: thousands of bins of thousands of types take seconds, so it
stops at a deadline and hands back the bins it has filled.
"""

from __future__ import annotations

import math

import numpy as np

from packer import work

# Work per bin, per table row of (1) (a binary chunk of one type: NumPy calls) and per cell of the
# rows (measured on the reference host: 0.1 ms a bin at capacity 150, 1.4 ms at 100,000 with 65 rows).
BIN_S = 2e-5
ROW_S = 2e-6
CELL_S = 1.5e-10


def _fill(sizes: list[int], left: list[int], room: int) -> list[int]:
    """(1)–(2): copies per type of a subset of ``left`` with the largest total at most ``room``."""
    chunks = []
    for t, (w, n) in enumerate(zip(sizes, left, strict=True)):
        k = 1
        while n > 0 and w <= room:
            take = min(k, n)
            chunks.append((t, take))
            n -= take
            k *= 2
    work.spend(BIN_S + len(chunks) * (ROW_S + CELL_S * (room + 1)))
    reach = np.zeros(room + 1, dtype=bool)
    reach[0] = True
    rows = np.zeros((len(chunks), room + 1), dtype=bool)
    for c, (t, take) in enumerate(chunks):
        weight = sizes[t] * take
        if weight > room:
            continue
        gained = np.zeros(room + 1, dtype=bool)
        gained[weight:] = reach[:-weight] & ~reach[weight:]
        rows[c] = gained
        reach |= gained
    total = int(np.flatnonzero(reach)[-1])
    copies = [0] * len(sizes)
    for c in range(len(chunks) - 1, -1, -1):
        if rows[c, total]:
            t, take = chunks[c]
            copies[t] += take
            total -= sizes[t] * take
    return copies


def minimum_slack(
    sizes: list[int], counts: list[int], capacity: int, deadline: float = math.inf
) -> list[tuple[int, ...]]:
    """Bins as copies per type, for types sorted largest first (``sizes`` decreasing).

    At ``deadline`` (``packer.work``) it stops: the bins filled so far come back, the caller packs the rest.
    """
    left = list(counts)
    bins = []
    while any(left):
        if work.now() > deadline:
            break
        first = next(t for t, n in enumerate(left) if n)
        left[first] -= 1
        copies = _fill(sizes, left, capacity - sizes[first])
        copies[first] += 1
        left = [n - (c if t != first else c - 1) for t, (n, c) in enumerate(zip(left, copies, strict=True))]
        bins.append(tuple(copies))
    return bins
