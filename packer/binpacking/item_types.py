"""One-resource items grouped by size ("types"), and bins of type copies back to items."""

from __future__ import annotations

from dataclasses import dataclass

from packer.binpacking import pattern_ip
from packer.binpacking.fit import decreasing
from packer.binpacking.patterns import Pattern


@dataclass(frozen=True)
class Types:
    """Items grouped by size: sizes largest first, counts, and the items (input indices) of each."""

    sizes: list[int]
    counts: list[int]
    members: list[list[int]]
    capacity: int

    @classmethod
    def of(cls, sizes: list[int], capacity: int) -> Types:
        """Group ``sizes`` (already divided by their common divisor with ``capacity``)."""
        members: dict[int, list[int]] = {}
        for i in decreasing(sizes):
            members.setdefault(sizes[i], []).append(i)
        return cls(list(members), [len(m) for m in members.values()], list(members.values()), capacity)

    def patterns(self, assignment: list[int]) -> list[Pattern]:
        """One pattern (copies per type) per bin of an item-level assignment."""
        type_of = {i: t for t, m in enumerate(self.members) for i in m}
        bins = [[0] * len(self.sizes) for _ in range(max(assignment) + 1)]
        for i, b in enumerate(assignment):
            bins[b][type_of[i]] += 1
        return [tuple(b) for b in bins]

    def assign(self, bins: list[Pattern]) -> list[int]:
        """Item-level assignment from bins of type copies: each type's items handed out in order."""
        left = [iter(m) for m in self.members]
        assignment = [-1] * sum(self.counts)
        for b, pattern in enumerate(bins):
            for t, copies in enumerate(pattern):
                for _ in range(copies):
                    assignment[next(left[t])] = b
        return assignment


def materialize(groups: tuple[pattern_ip.Group, ...], types: Types) -> list[Pattern]:
    """Bins from an IP answer: one per copy of each group, over-covered copies dropped, fill added.

    A group's fill items go first-fit (largest first) into that group's bins; whatever is still
    missing goes into the fullest bin with room, or into a new bin.
    """
    sizes, cap = types.sizes, types.capacity
    loads = [[*g.pattern] for g in groups for _ in range(g.copies)]
    for t, d in enumerate(types.counts):
        surplus = max(0, sum(b[t] for b in loads) - d)
        for b in reversed(loads):
            take = min(surplus, b[t])
            b[t] -= take
            surplus -= take
    room = [cap - sum(a * w for a, w in zip(b, sizes, strict=True)) for b in loads]
    start = 0
    for g in groups:
        members = range(start, start + g.copies)
        start += g.copies
        for t in sorted(range(len(sizes)), key=lambda t: -sizes[t]):
            for _ in range(g.fill[t]):
                k = next((k for k in members if room[k] >= sizes[t]), None)
                if k is not None:
                    loads[k][t] += 1
                    room[k] -= sizes[t]
    for t, d in enumerate(types.counts):
        for _ in range(d - sum(b[t] for b in loads)):
            fits = [k for k, r in enumerate(room) if r >= sizes[t]]
            k = min(fits, key=lambda k: (room[k], k)) if fits else len(loads)
            if k == len(loads):
                loads.append([0] * len(sizes))
                room.append(cap)
            loads[k][t] += 1
            room[k] -= sizes[t]
    return [tuple(b) for b in loads if any(b)]
