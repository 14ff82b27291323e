r"""Full bins: when a resource's total demand is exactly K bins' worth, a K-bin packing fills every bin.

Sets and parameters
    I            items, largest first (``vector_types.size_key``);  w[i, r], C[r] integers
    K            the lower bound tested;  R* = {r : Σ_i w[i, r] = K·C[r]} the tight resources
Claim
    In a packing into K bins every bin b holds exactly C[r] of each r ∈ R*: loads are at most C[r]
    and they add up to K·C[r]. So a K-bin packing is a partition of I into "full" subsets S with
    (1) Σ_{i∈S} w[i, r] = C[r]  ∀ r ∈ R*     and     (2) Σ_{i∈S} w[i, r] ≤ C[r]  ∀ r ∉ R*.
Search (a dive with limited discrepancy, as ``vector_diving`` does on the pattern LP)
    The largest item left, the anchor a, is in some full subset. Its completions are found by
    hashing: a subset's loads on R* in mixed radix (C[r] + 1) form one integer key, and
    key(S) = key(C) − key(w[a]) is matched among single items, pairs (a sorted table of every pair
    of items that fits), an item plus a pair, and two pairs: full subsets of up to ``MAX_SIZE`` items.
    Children are the completions, largest items first; child k costs k discrepancies; passes allow
    D = 0, 1, 2, ... discrepancies until a partition is found or the deadline. A subset of more than
    ``MAX_SIZE`` items is never found here: the search then fails, and the other steps go on.
For random demands an accidental full subset is rare (three equalities at once), so pass 0 usually
finds the partition: a packing into K bins, which meets the bound and so is optimal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from packer import work

# Items of a full subset the hashing finds (the anchor plus two pairs).
MAX_SIZE = 5
# Above this many items the pair table (items² / 2 rows) is too large to build.
MAX_ITEMS = 3_000
# The pair table drops pairs with a dead item every this many bins fixed.
COMPACT_EVERY = 16
# Completions tried per anchor.
WIDTH = 3
# Work per frame of the search: a fixed part and a part per item (the completions' table scans;
# measured on the reference host).
FRAME_S = 2e-4
FRAME_S_PER_ITEM = 1e-7


@dataclass(frozen=True)
class FullBins:
    """``bins`` (item lists) of a K-bin partition, or None; ``partial``: the most full bins one dive fixed."""

    bins: list[list[int]] | None
    partial: list[list[int]]


def tight_resources(demands: np.ndarray, capacity: np.ndarray, bins: int) -> list[int]:
    """R*: the resources whose total demand is exactly ``bins`` × capacity."""
    return [r for r in range(len(capacity)) if int(demands[:, r].sum()) == bins * int(capacity[r])]


class _Table:
    """Keys of items and of fitting pairs on R*, for the completion queries.

    The pair table is sorted by key once; ``compact`` drops pairs with a dead item (a view, reset
    to the whole table when an item comes back on a backtrack).
    """

    def __init__(self, sizes: np.ndarray, capacity: np.ndarray, tight: list[int]) -> None:
        radix = np.ones(len(capacity), dtype=np.int64)
        for k in range(1, len(tight)):
            radix[tight[k]] = radix[tight[k - 1]] * (int(capacity[tight[k - 1]]) + 1)
        self.weights = np.zeros(len(capacity), dtype=np.int64)
        self.weights[tight] = radix[tight]
        self.sizes, self.capacity = sizes, capacity
        self.keys = sizes @ self.weights
        i, j = np.triu_indices(len(sizes), k=1)
        fits = np.all(sizes[i] + sizes[j] <= capacity, axis=1)
        i, j = i[fits], j[fits]
        by_key = np.argsort(self.keys[i] + self.keys[j], kind="stable")
        self._full = (i[by_key].astype(np.int32), j[by_key].astype(np.int32))
        self.reset()

    def reset(self) -> None:
        """The view: every pair."""
        self.pi, self.pj = self._full
        # pair loads per resource, one contiguous column each (filtered a column at a time)
        self.psum = [self.sizes[self.pi, r] + self.sizes[self.pj, r] for r in range(len(self.capacity))]
        self.pkey = self.keys[self.pi] + self.keys[self.pj]

    def compact(self, alive: np.ndarray) -> None:
        """The view: pairs of items both ``alive`` (still sorted by key)."""
        keep = alive[self.pi] & alive[self.pj]
        self.pi, self.pj, self.pkey = self.pi[keep], self.pj[keep], self.pkey[keep]
        self.psum = [column[keep] for column in self.psum]

    def completions(self, anchor: int, alive: np.ndarray) -> list[tuple[int, ...]]:
        """Every set S of alive items (anchor excluded) with the anchor making a full subset."""
        room = self.capacity - self.sizes[anchor]
        target = int(room @ self.weights)
        ok = alive.copy()
        ok[anchor] = False
        single = np.flatnonzero(ok & np.all(self.sizes <= room, axis=1))
        pairs = np.flatnonzero(self.psum[0] <= room[0])
        for r in range(1, len(room)):
            pairs = pairs[self.psum[r][pairs] <= room[r]]
        pairs = pairs[ok[self.pi[pairs]] & ok[self.pj[pairs]]]
        keys = self.pkey[pairs]
        found: set[tuple[int, ...]] = {()} if target == 0 else set()
        found.update((int(j),) for j in single if self.keys[j] == target)
        lo, hi = np.searchsorted(keys, target, side="left"), np.searchsorted(keys, target, side="right")
        found.update(self._pair(p) for p in pairs[lo:hi])
        for heads, wanted in (
            ([(int(j),) for j in single], target - self.keys[single]),
            (pairs, target - keys),
        ):
            lo, hi = np.searchsorted(keys, wanted, side="left"), np.searchsorted(keys, wanted, side="right")
            for h in np.flatnonzero(hi > lo):
                head = heads[h] if isinstance(heads, list) else self._pair(heads[h])
                for p in pairs[lo[h] : hi[h]]:
                    members = tuple(sorted(set(head) | set(self._pair(p))))
                    if len(members) == len(head) + 2 and np.all(
                        self.sizes[list(members)].sum(axis=0) <= room
                    ):
                        found.add(members)
        return sorted(found, key=lambda s: (sorted(s), len(s)))

    def _pair(self, p: int) -> tuple[int, int]:
        return int(self.pi[p]), int(self.pj[p])


class _Frame:
    """A node of the dive: its anchor, completions, the next child, discrepancies left, the bin applied."""

    def __init__(self, anchor: int, completions: list[tuple[int, ...]], left: int) -> None:
        self.anchor, self.completions, self.left = anchor, completions, left
        self.next = 0
        self.applied: list[int] | None = None


def search(demands: np.ndarray, capacity: np.ndarray, tight: list[int], deadline: float) -> FullBins:
    """Partition the items into full subsets (see the module docstring) until ``deadline``."""
    table = _Table(demands, capacity, tight)
    shares = demands / capacity
    order = sorted(range(len(demands)), key=lambda i: (-shares[i].max(), -shares[i].sum(), i))
    best: list[list[int]] = []
    for discrepancies in range(len(demands) + 1):
        table.reset()
        found, branched, best = _dive(table, order, discrepancies, deadline, best)
        if found is not None:
            return FullBins(found, found)
        if not branched or work.now() >= deadline:
            break
    return FullBins(None, best)


def _dive(
    table: _Table, order: list[int], discrepancies: int, deadline: float, best: list[list[int]]
) -> tuple[list[list[int]] | None, bool, list[list[int]]]:
    """One pass: (the partition or None, whether any node had a second child, the best partial)."""
    alive = np.ones(len(order), dtype=bool)
    bins: list[list[int]] = []
    branched = False

    def frame(left: int) -> _Frame:
        nonlocal branched
        anchor = next(i for i in order if alive[i])
        completions = table.completions(anchor, alive)[:WIDTH]
        branched = branched or len(completions) > 1
        return _Frame(anchor, completions, left)

    frames = [frame(discrepancies)]
    cost = FRAME_S + FRAME_S_PER_ITEM * len(order)
    while frames and work.now() < deadline:
        work.spend(cost)
        top = frames[-1]
        if top.applied is not None:
            alive[top.applied] = True
            bins.pop()
            top.applied = None
            table.reset()
        if top.next >= len(top.completions) or top.next > top.left:
            frames.pop()
            continue
        members = [top.anchor, *top.completions[top.next]]
        left = top.left - top.next
        top.next += 1
        alive[members] = False
        bins.append(members)
        top.applied = members
        if len(bins) > len(best):
            best = [list(b) for b in bins]
        if len(bins) % COMPACT_EVERY == 0:
            table.compact(alive)
        if not alive.any():
            return bins, branched, best
        frames.append(frame(left))
    return None, branched, best
