r"""Vector items grouped into types, bins as patterns, and greedy packings (the engine's upper bounds).

Sets and parameters
    I            items; w[i, r] ≥ 0 the integer demand of item i in resource r ∈ R, C[r] > 0 capacity
    T            types: items with the same demand vector, ordered largest first (by the largest share
                 w[r] / C[r], then by the sum of shares), d[t] items of type t
    a[t]         a pattern: copies of each type in one bin, feasible when Σ_t a[t]·w[t, r] ≤ C[r] ∀ r

Greedy packings (each item, in an order, into a bin with room in every resource, else a new bin):
    first fit    the first such bin (``ffd.first_fit_decreasing``'s rule, the one reported as FFD)
    best fit     the fullest such bin, by Σ_r load[r] / C[r]
    dot product  the bin whose load has the largest dot product with the item's shares (Panigrahy et
                 al. 2011, "Heuristics for vector bin packing"): items go where they complement the load
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Pattern = tuple[int, ...]
# The greedy rules, tried in this order; the first one is first-fit decreasing.
RULES = ("first", "best", "dot")


def size_key(demand: list[int] | tuple[int, ...], capacity: list[int]) -> tuple[float, float]:
    """Sort key, largest first: (−largest share, −sum of shares)."""
    shares = [w / c for w, c in zip(demand, capacity, strict=True)]
    return -max(shares), -sum(shares)


@dataclass(frozen=True)
class VectorTypes:
    """Items grouped by demand vector: ``sizes[t]`` per resource, ``counts[t]``, ``members[t]`` (items)."""

    sizes: tuple[tuple[int, ...], ...]
    counts: tuple[int, ...]
    members: tuple[tuple[int, ...], ...]
    capacity: tuple[int, ...]

    @classmethod
    def of(cls, demands: list[list[int]], capacity: list[int]) -> VectorTypes:
        """Group ``demands``; types largest first (``size_key``, then the vector itself: a total order)."""
        members: dict[tuple[int, ...], list[int]] = {}
        for i, demand in enumerate(demands):
            members.setdefault(tuple(demand), []).append(i)
        order = sorted(members, key=lambda v: (size_key(v, capacity), tuple(-x for x in v)))
        return cls(
            sizes=tuple(order),
            counts=tuple(len(members[v]) for v in order),
            members=tuple(tuple(members[v]) for v in order),
            capacity=tuple(capacity),
        )

    @property
    def items(self) -> int:
        """Number of items."""
        return sum(self.counts)

    def array(self) -> np.ndarray:
        """Sizes as a types × resources integer array."""
        return np.asarray(self.sizes, dtype=np.int64).reshape(len(self.sizes), len(self.capacity))

    def fits(self, pattern: Pattern) -> bool:
        """True when ``pattern`` is within capacity in every resource."""
        return all(
            sum(a * w[r] for a, w in zip(pattern, self.sizes, strict=True) if a) <= c
            for r, c in enumerate(self.capacity)
        )

    def patterns(self, assignment: list[int]) -> list[Pattern]:
        """One pattern per bin of an item-level assignment (bins numbered 0..k-1)."""
        type_of = {i: t for t, m in enumerate(self.members) for i in m}
        bins = [[0] * len(self.sizes) for _ in range(max(assignment) + 1)]
        for i, b in enumerate(assignment):
            bins[b][type_of[i]] += 1
        return [tuple(b) for b in bins]

    def assign(self, bins: list[Pattern]) -> list[int]:
        """Item-level assignment from bins that hold every item exactly once, numbered 0..k-1."""
        left = [iter(m) for m in self.members]
        assignment = [-1] * self.items
        for b, pattern in enumerate(bins):
            for t, copies in enumerate(pattern):
                for _ in range(copies):
                    assignment[next(left[t])] = b
        return assignment


def greedy(sizes: np.ndarray, capacity: np.ndarray, order: list[int], rule: str) -> list[int]:
    """Bin per item (rows of ``sizes``), placing items in ``order`` by ``rule`` (see the docstring)."""
    n = len(order)
    room = np.tile(capacity, (max(n, 1), 1)).astype(np.int64)
    shares = sizes / capacity
    assignment = [-1] * len(sizes)
    opened = 0
    for i in order:
        fits = np.all(room[:opened] >= sizes[i], axis=1)
        if not fits.any():
            b = opened
            opened += 1
        elif rule == "first":
            b = int(np.argmax(fits))
        else:
            load = 1.0 - room[:opened] / capacity
            score = load.sum(axis=1) if rule == "best" else load @ shares[i]
            b = int(np.argmax(np.where(fits, score, -1.0)))
        room[b] -= sizes[i]
        assignment[i] = b
    return assignment


def greedy_packings(demands: list[list[int]], capacity: list[int]) -> list[list[int]]:
    """One packing per rule in ``RULES``, items largest first (``size_key``); the first is FFD's."""
    order = sorted(range(len(demands)), key=lambda i: (*size_key(demands[i], capacity), i))
    sizes = np.asarray(demands, dtype=np.int64).reshape(len(demands), len(capacity))
    cap = np.asarray(capacity, dtype=np.int64)
    return [greedy(sizes, cap, order, rule) for rule in RULES]


def pack_residual(types: VectorTypes, demand: tuple[int, ...] | list[int]) -> list[Pattern]:
    """Bins (patterns) for the items ``demand`` still holds per type: the best of the greedy rules."""
    items = [t for t, d in enumerate(demand) for _ in range(d)]
    if not items:
        return []
    sizes = types.array()[items]
    cap = np.asarray(types.capacity, dtype=np.int64)
    best: list[Pattern] = []
    for rule in RULES:
        assignment = greedy(sizes, cap, list(range(len(items))), rule)
        if best and max(assignment) + 1 >= len(best):
            continue
        bins = [[0] * len(demand) for _ in range(max(assignment) + 1)]
        for t, b in zip(items, assignment, strict=True):
            bins[b][t] += 1
        best = [tuple(b) for b in bins]
    return best
