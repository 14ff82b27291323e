"""Placement rules, checked for contradictions before any solving.

``together`` is transitive (a with b and b with c puts all three on the same GPUs), so the models
fall into groups, the connected components of the together relation; the solver and the greedy
place a group's members as one bundle. A contradiction is an ``InputError`` naming both rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

from profiler import InputError


def _groups(groups: tuple[tuple[str, ...], ...], what: str) -> None:
    for group in groups:
        if len(set(group)) < 2:
            raise InputError(f"{what} {','.join(group)!r}: name at least two different models")


@dataclass(frozen=True)
class Rules:
    """Placement rules. ``None`` scalars mean "not given" (no limit, no headroom) so layers can merge.

    ``pins``: (model, GPU type) pairs; ``apart``: groups of models no two of which share a GPU;
    ``together``: groups whose members always share GPUs (every GPU running one runs all);
    ``max_models_per_gpu``: at most K models per GPU; ``headroom_pct``: keep this % of every packed
    resource of every GPU free (usage ≤ min(threshold, 100 − headroom) %).
    """

    pins: tuple[tuple[str, str], ...] = ()
    apart: tuple[tuple[str, ...], ...] = ()
    together: tuple[tuple[str, ...], ...] = ()
    max_models_per_gpu: int | None = None
    headroom_pct: float | None = None

    def __post_init__(self) -> None:
        _groups(self.apart, "apart")
        _groups(self.together, "together")
        pinned: dict[str, str] = {}
        for model, gpu_type in self.pins:
            if pinned.setdefault(model, gpu_type) != gpu_type:
                raise InputError(f"model {model!r} is pinned to both {pinned[model]!r} and {gpu_type!r}")
        if self.max_models_per_gpu is not None and self.max_models_per_gpu < 1:
            raise InputError(f"max_models_per_gpu must be at least 1, got {self.max_models_per_gpu}")
        if self.headroom_pct is not None and not 0 <= self.headroom_pct < 100:
            raise InputError(f"headroom_pct must be at least 0 and below 100, got {self.headroom_pct:g}")

    @property
    def empty(self) -> bool:
        """True when no rule is set."""
        return self == NO_RULES

    @property
    def pin_of(self) -> dict[str, str]:
        """Model → the GPU type it is pinned to."""
        return dict(self.pins)

    @property
    def apart_pairs(self) -> tuple[tuple[str, str], ...]:
        """Every pair of models that may not share a GPU, each once, sorted."""
        pairs = {tuple(sorted((a, b))) for g in self.apart for a in g for b in g if a != b}
        return tuple(sorted(pairs))

    def merged(self, later: Rules) -> Rules:
        """These rules, then ``later``'s: lists are joined, scalars given in ``later`` win."""
        return replace(
            self,
            pins=self.pins + tuple(p for p in later.pins if p not in self.pins),
            apart=self.apart + later.apart,
            together=self.together + later.together,
            max_models_per_gpu=(
                self.max_models_per_gpu if later.max_models_per_gpu is None else later.max_models_per_gpu
            ),
            headroom_pct=self.headroom_pct if later.headroom_pct is None else later.headroom_pct,
        )


NO_RULES = Rules()


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
    models: list[str],
    types_of: list[set[int]],
    groups: tuple[tuple[int, ...], ...],
    rules: Rules,
    type_names: list[str],
) -> None:
    """Refuse rules no plan can satisfy: together and apart at once, split pins, groups too large.

    ``types_of[i]`` holds the GPU types model ``models[i]`` has a candidate point on.
    """
    group_of = {i: g for g in groups for i in g}
    index = {model: i for i, model in enumerate(models)}
    for a, b in rules.apart_pairs:
        if group_of[index[a]] is group_of[index[b]]:
            raise InputError(f"contradictory rules: {a!r} and {b!r} must be kept together and apart")
    pins = rules.pin_of
    limit = rules.max_models_per_gpu
    for group in groups:
        names = [models[i] for i in group]
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
        if not set.intersection(*(types_of[i] for i in group)):
            raise InputError(
                f"models {', '.join(names)} must share GPUs but no GPU type runs all of them",
                f"GPU types: {', '.join(type_names)}",
            )
