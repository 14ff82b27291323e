r"""Lower bounds on the number of bins (GPUs), for one resource and for several.

Sets and parameters
    J            items; w[j] ≥ 0 an item's integer size, C > 0 the bin capacity (same units)
    R            resources, for vector packing; w[j, r] and C[r] per resource

Bounds (each is at most the optimum, so the largest is one too)
    (1) L1 = ⌈Σ_j w[j] / C⌉                                          total size over capacity
    (2) L2 = max over K ∈ {0} ∪ {w[j] : w[j] ≤ C/2} of L(K), with     Martello and Toth (1990),
            N1 = {j : w[j] > C − K}                                   "Lower bounds and reduction
            N2 = {j : C − K ≥ w[j] > C/2}                             procedures for the bin
            N3 = {j : C/2 ≥ w[j] ≥ K}                                 packing problem", §3
            L(K) = |N1| + |N2| + max(0, ⌈(Σ_{N3} w − (|N2|·C − Σ_{N2} w)) / C⌉)
        No two items of N1 ∪ N2 share a bin (each is above C/2), no item of N3 fits beside an
        item of N1, so items of N3 go into the room the N2 bins leave or into new bins. L(0) = L1.
    (3) vector packing: max over r of L2 on resource r alone (dropping the other resources
        relaxes the problem, so each one-resource bound holds).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence


def l1_bound(sizes: Sequence[int], capacity: int) -> int:
    """(1) Ceiling of the total size over the capacity; 0 for no items."""
    return math.ceil(sum(sizes) / capacity) if sizes else 0


def l2_bound(sizes: Sequence[int], capacity: int) -> int:
    """(2) Martello–Toth L2, evaluated at every distinct size up to half the capacity in O(n log n).

    Items larger than ``capacity`` are not allowed (no bin holds them).
    """
    if not sizes:
        return 0
    if max(sizes) > capacity:
        raise ValueError(f"an item of size {max(sizes)} exceeds the capacity {capacity}")
    ordered = sorted(sizes)
    prefix = [0]
    for w in ordered:
        prefix.append(prefix[-1] + w)
    n = len(ordered)
    # Items above C/2 (2·w > C, i.e. w > ⌊C/2⌋) start at index ``half``.
    half = bisect.bisect_right(ordered, capacity // 2)
    big_count, big_total = n - half, prefix[n] - prefix[half]
    best = 0
    candidates = sorted({0, *ordered[:half]})
    for k in candidates:
        # N1: w > C − K (a suffix of the big items), N2: the rest of the big items.
        n1_start = bisect.bisect_right(ordered, capacity - k)
        n1 = n - n1_start
        n2 = big_count - n1
        n2_total = big_total - (prefix[n] - prefix[n1_start])
        # N3: K ≤ w ≤ C/2.
        n3_start = bisect.bisect_left(ordered, k)
        n3_total = prefix[half] - prefix[n3_start]
        room = n2 * capacity - n2_total
        best = max(best, n1 + n2 + max(0, math.ceil((n3_total - room) / capacity)))
    return best


def vector_lower_bound(demands: Sequence[Sequence[int]], capacity: Sequence[int]) -> int:
    """(3) The largest one-resource L2 over all resources; 0 for no items."""
    if not demands:
        return 0
    return max(l2_bound([d[r] for d in demands], cap) for r, cap in enumerate(capacity))
