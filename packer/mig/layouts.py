"""A GPU's MIG layout: slices (profile, start) that do not overlap on the memory slices.

``placements`` lists every (profile, start) a product allows; ``layouts`` enumerates every valid
layout (every set of placements whose memory slices are disjoint: NVML refuses to create an
instance over memory slices another one holds); ``layout_problems`` checks a written layout from the
product table alone, so the planner's output can be verified independently of how it was built.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache

from packer.mig.products import COMPUTE_SLICES, MigProduct, MigProfile


@dataclass(frozen=True, order=True)
class Slice:
    """One GPU instance of a layout: memory slices ``start`` .. ``start + span − 1`` of ``profile``."""

    start: int
    profile: str


def memory_slices(profile: MigProfile, start: int) -> range:
    """The memory-slice positions an instance of ``profile`` starting at ``start`` occupies."""
    return range(start, start + profile.span)


def placements(product: MigProduct) -> tuple[tuple[MigProfile, int], ...]:
    """Every (profile, start) the product allows, smallest profile first."""
    return tuple((p, s) for p in product.profiles for s in p.starts)


@cache
def layouts(product: MigProduct) -> tuple[tuple[Slice, ...], ...]:
    """Every valid non-empty layout of ``product``, each sorted by start (the empty one excluded)."""
    options = placements(product)
    found: list[tuple[Slice, ...]] = []

    def extend(index: int, taken: int, chosen: list[Slice]) -> None:
        if chosen:
            found.append(tuple(sorted(chosen)))
        for k in range(index, len(options)):
            profile, start = options[k]
            mask = sum(1 << j for j in memory_slices(profile, start))
            if not mask & taken:
                extend(k + 1, taken | mask, [*chosen, Slice(start, profile.name)])

    extend(0, 0, [])
    return tuple(sorted(set(found)))


def layout_problems(product: MigProduct, slices: tuple[Slice, ...] | list[Slice]) -> list[str]:
    """What is wrong with ``slices`` as a layout of ``product`` (empty when the driver accepts it).

    Checked from the product table only: each profile exists and starts at an allowed position, no
    two instances share a memory slice, no profile is used more often than the product allows, and
    the compute slices add up to at most 7.
    """
    out: list[str] = []
    if not slices:
        return ["a MIG layout needs at least one instance"]
    owner: dict[int, Slice] = {}
    compute = 0
    names = {p.name: p for p in product.profiles}
    for s in slices:
        profile = names.get(s.profile)
        if profile is None:
            out.append(f"{product.name} has no MIG profile {s.profile!r}")
            continue
        compute += profile.compute
        if s.start not in profile.starts:
            allowed = ", ".join(map(str, profile.starts))
            out.append(f"{s.profile} cannot start at memory slice {s.start} (allowed: {allowed})")
            continue
        for j in memory_slices(profile, s.start):
            if j in owner:
                out.append(f"{s.profile}@{s.start} overlaps {owner[j].profile}@{owner[j].start} on slice {j}")
                break
            owner[j] = s
    for name, n in Counter(s.profile for s in slices).items():
        if name in names and n > names[name].max_count:
            out.append(f"{n} instances of {name}, at most {names[name].max_count} on {product.name}")
    if compute > COMPUTE_SLICES:
        out.append(f"the instances take {compute} compute slices of {COMPUTE_SLICES}")
    return out


def describe(slices: tuple[Slice, ...] | list[Slice]) -> str:
    """A layout as one line: ``1g.18gb@0 1g.18gb@1 3g.71gb@4``."""
    return " ".join(f"{s.profile}@{s.start}" for s in sorted(slices))
