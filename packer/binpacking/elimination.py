"""Bin elimination: a local search that empties one bin at a time (one-resource packing).

From a packing with B bins, the least loaded bin is emptied and its items become pending. Each
pending item, largest first, is placed by the first move that applies:

1. best fit: the fullest bin with room for it;
2. swap down: in the bin where it leaves the least room, it replaces a smaller item, which becomes
   pending instead (pending sizes only shrink, so these moves cannot cycle);
3. kick: a random bin takes it and evicts random items (never the one it just took) until it fits.

The search succeeds when nothing is pending (B − 1 bins) and starts over on the new packing; an
attempt gives up after ``MOVES_PER_BIN`` moves and the next one starts from the same packing with
other random kicks, until the lower bound or the deadline. The random choices come
from a generator seeded with the plan's seed: a search that reaches the bound always takes the same
path to the same packing. The deadline is on the work clock (``packer.work``, ``MOVE_S`` a move):
a search stopped by it stops at the same move on any machine.
"""

from __future__ import annotations

import random

from packer import work

# Moves allowed to empty one bin before the search gives up (a few hundred suffice where it works).
MOVES_PER_BIN = 20_000
# Work per move: a fixed part and a part per item (the scans of best fit and swap down are
# linear in the items; measured on the reference host).
MOVE_S = 2.5e-6
MOVE_S_PER_ITEM = 5e-8


def eliminate(
    sizes: list[int], capacity: int, assignment: list[int], lower: int, deadline: float, seed: int
) -> list[int]:
    """A packing with as few bins as the search reaches (never more than ``assignment``'s)."""
    rng = random.Random(seed)
    best = list(assignment)
    while max(best) + 1 > lower and work.now() < deadline:
        # A failed attempt has moved the generator on: the next one kicks differently.
        best = _without_one_bin(sizes, capacity, best, rng, deadline) or best
    return best


def _without_one_bin(
    sizes: list[int], capacity: int, assignment: list[int], rng: random.Random, deadline: float
) -> list[int] | None:
    count = max(assignment) + 1
    bins: list[list[int]] = [[] for _ in range(count)]
    for i, b in enumerate(assignment):
        bins[b].append(i)
    loads = [sum(sizes[i] for i in items) for items in bins]
    emptied = min(range(count), key=lambda b: (loads[b], b))
    pending = sorted(bins.pop(emptied), key=lambda i: (-sizes[i], i))
    loads.pop(emptied)
    cost = MOVE_S + MOVE_S_PER_ITEM * len(sizes)
    for _ in range(MOVES_PER_BIN):
        work.spend(cost)
        if not pending:
            return [b for _, b in sorted((i, b) for b, items in enumerate(bins) for i in items)]
        if work.now() >= deadline:
            return None
        item = pending.pop(0)
        evicted = _place(sizes, capacity, bins, loads, item, rng)
        pending = sorted(pending + evicted, key=lambda i: (-sizes[i], i))
    return None


def _place(
    sizes: list[int], capacity: int, bins: list[list[int]], loads: list[int], item: int, rng: random.Random
) -> list[int]:
    """Put ``item`` in a bin by move 1, 2 or 3; returns the items it evicted."""
    size = sizes[item]
    # 1. best fit
    fits = [b for b in range(len(bins)) if loads[b] + size <= capacity]
    if fits:
        b = max(fits, key=lambda b: (loads[b], -b))
        bins[b].append(item)
        loads[b] += size
        return []
    # 2. swap down: replace the smaller item that leaves the least room
    swaps = [
        (loads[b] - sizes[j] + size, b, j)
        for b in range(len(bins))
        for j in bins[b]
        if sizes[j] < size and loads[b] - sizes[j] + size <= capacity
    ]
    if swaps:
        _, b, j = max(swaps, key=lambda s: (s[0], -s[1], -s[2]))
        bins[b].remove(j)
        bins[b].append(item)
        loads[b] += size - sizes[j]
        return [j]
    # 3. kick: a random bin takes it, evicting random other items until it fits
    b = rng.randrange(len(bins))
    evicted = []
    while loads[b] + size > capacity:
        j = bins[b].pop(rng.randrange(len(bins[b])))
        loads[b] -= sizes[j]
        evicted.append(j)
    bins[b].append(item)
    loads[b] += size
    return evicted
