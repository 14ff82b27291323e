r"""Items grouped into types, and bins as patterns of type copies: the one grouping both engines use.

Sets and parameters
    I            items;  R resources (one for ``min-gpus``, three for ``throughput``)
    w[i, r] ≥ 0  integer demand of item i in resource r;  C[r] > 0 capacity
    T            types: items with the same demand vector, ordered largest first (by the largest
                 share w[r] / C[r], then the sum of shares, then the vector itself: a total order;
                 with one resource, plain decreasing size), d[t] items of type t
    a[t]         a pattern: copies of each type in one bin, feasible when
                 (1) Σ_t a[t]·w[t, r] ≤ C[r]   ∀ r
A one-resource item is the vector case with R = {0}.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Pattern = tuple[int, ...]


def size_key(demand: Sequence[int], capacity: Sequence[int]) -> tuple[float, float]:
    """Sort key, largest first: (−largest share, −sum of shares)."""
    shares = [w / c for w, c in zip(demand, capacity, strict=True)]
    return -max(shares), -sum(shares)


@dataclass(frozen=True)
class ItemTypes:
    """Items grouped by demand vector: ``sizes[t]`` per resource, ``counts[t]``, ``members[t]`` (items)."""

    sizes: tuple[tuple[int, ...], ...]
    counts: tuple[int, ...]
    members: tuple[tuple[int, ...], ...]
    capacity: tuple[int, ...]

    @classmethod
    def of(cls, demands: Sequence[Sequence[int]], capacity: Sequence[int]) -> ItemTypes:
        """Group ``demands`` (one row per item); types largest first, members in input order."""
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

    @classmethod
    def of_sizes(cls, sizes: Sequence[int], capacity: int) -> ItemTypes:
        """Group one-resource ``sizes``: the vector case with one resource."""
        return cls.of([(w,) for w in sizes], (capacity,))

    @property
    def items(self) -> int:
        """Number of items."""
        return sum(self.counts)

    def column(self, r: int = 0) -> list[int]:
        """The types' sizes in resource ``r`` (one resource: the sizes)."""
        return [size[r] for size in self.sizes]

    def array(self) -> np.ndarray:
        """Sizes as a types × resources integer array."""
        return np.asarray(self.sizes, dtype=np.int64).reshape(len(self.sizes), len(self.capacity))

    def fit_limits(self) -> np.ndarray:
        """Most copies of each type one bin holds alone (from (1))."""
        sizes, capacity = self.array(), np.asarray(self.capacity, dtype=np.int64)
        positive = np.where(sizes > 0, sizes, 1)
        most = np.where(sizes > 0, capacity // positive, np.iinfo(np.int64).max)
        return most.min(axis=1)

    def fits(self, pattern: Pattern) -> bool:
        """(1): ``pattern`` is within capacity in every resource."""
        return all(
            sum(a * w[r] for a, w in zip(pattern, self.sizes, strict=True) if a) <= c
            for r, c in enumerate(self.capacity)
        )

    def patterns(self, assignment: Sequence[int]) -> list[Pattern]:
        """One pattern per bin of an item-level assignment (bins numbered 0..k-1)."""
        type_of = {i: t for t, m in enumerate(self.members) for i in m}
        bins = [[0] * len(self.sizes) for _ in range(max(assignment) + 1)]
        for i, b in enumerate(assignment):
            bins[b][type_of[i]] += 1
        return [tuple(b) for b in bins]

    def assign(self, bins: Sequence[Pattern]) -> list[int]:
        """Item-level assignment from bins that hold every item exactly once: each type's items in order."""
        left = [iter(m) for m in self.members]
        assignment = [-1] * self.items
        for b, pattern in enumerate(bins):
            # only the types the bin holds (compress skips the zeros in C: 10,000-type patterns)
            for t in itertools.compress(range(len(pattern)), pattern):
                for _ in range(pattern[t]):
                    assignment[next(left[t])] = b
        return assignment


def drop_surplus(bins: Sequence[Pattern], counts: Sequence[int]) -> list[Pattern]:
    """``bins`` covering each type at least ``counts`` times, extra copies removed (last bins first).

    Removing copies keeps a bin within (1), so the result is a packing of exactly ``counts``.
    """
    loads = [list(b) for b in bins]
    for t, d in enumerate(counts):
        surplus = sum(b[t] for b in loads) - d
        for b in reversed(loads):
            take = min(surplus, b[t])
            b[t] -= take
            surplus -= take
    return [tuple(b) for b in loads if any(b)]
