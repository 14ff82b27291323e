"""Placement rules, checked for contradictions before any solving.

``together`` is transitive (a with b and b with c puts all three on the same GPUs), so the models
fall into groups, the connected components of the together relation; the solver and the greedy
place a group's members as one bundle. A contradiction is an ``InputError`` naming both rules.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from packer.fleet import Rules
from profiler.errors import InputError

if TYPE_CHECKING:
    from packer.fleet_problem import FleetItem


def together_groups(models: list[str], rules: Rules) -> tuple[tuple[int, ...], ...]:
    """Model indices grouped by ``together`` (singletons for the rest), in model order."""
    parent = list(range(len(models)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    index = {m: i for i, m in enumerate(models)}
    for group in rules.together:
        for a, b in pairwise(group):
            parent[root(index[a])] = root(index[b])
    members: dict[int, list[int]] = {}
    for i in range(len(models)):
        members.setdefault(root(i), []).append(i)
    return tuple(tuple(g) for g in sorted(members.values()))


def check_rules(
    items: list[FleetItem], groups: tuple[tuple[int, ...], ...], rules: Rules, type_names: list[str]
) -> None:
    """Refuse rules no plan can satisfy: together and apart at once, split pins, groups too large."""
    group_of = {i: g for g in groups for i in g}
    index = {item.model: i for i, item in enumerate(items)}
    for a, b in rules.apart_pairs:
        if group_of[index[a]] is group_of[index[b]]:
            raise InputError(f"contradictory rules: {a!r} and {b!r} must be kept together and apart")
    pins = rules.pin_of
    limit = rules.max_models_per_gpu
    for group in groups:
        names = [items[i].model for i in group]
        pinned = {pins[m] for m in names if m in pins}
        if len(pinned) > 1:
            raise InputError(
                f"contradictory rules: {', '.join(names)} must share GPUs but are pinned to "
                f"different GPU types ({', '.join(sorted(pinned))})"
            )
        if limit is not None and len(group) > limit:
            raise InputError(
                f"contradictory rules: {', '.join(names)} must share GPUs, more than "
                f"--max-models-per-gpu {limit} allows"
            )
        common = set.intersection(*({o.type_index for o in items[i].options} for i in group))
        if not common:
            raise InputError(
                f"models {', '.join(names)} must share GPUs but no GPU type runs all of them",
                f"GPU types: {', '.join(type_names)}",
            )
