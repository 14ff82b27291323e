"""What the plan check looks up, built once per plan, and the checks of a server's points.

Shared by the whole-GPU check (``packer.check``) and the MIG slice check (``packer.mig.check``): a
point must be measured on its GPU type, be the point the problem fixed (without --choose-points),
keep its model's p99 bound and run on the type the model is pinned to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packer.inputs import GpuType, Target
from packer.problem import Problem
from packer.resources import Resource, measured
from profiler import ProfilePoint


@dataclass(frozen=True)
class PlanIndex:
    """What every server's check looks up, built once per plan: O(models + points) in all."""

    targets: dict[str, Target | None]
    # (model, type index) → the point the problem fixed for it (without --choose-points).
    fixed: dict[tuple[str, int], ProfilePoint]
    # Per GPU type: the index of the type and the measured points of its profile.
    type_index: dict[str, int]
    measured: dict[str, frozenset[ProfilePoint]]
    # Per GPU type: the packed resources its profile measures (memory always).
    packed: dict[str, frozenset[Resource]]

    @classmethod
    def of(cls, problem: Problem) -> PlanIndex:
        """The index of ``problem``."""
        return cls(
            targets={item.model: item.target for item in problem.items},
            fixed={(item.model, o.type_index): o.point for item in problem.items for o in item.options},
            type_index={t.name: k for k, t in enumerate(problem.types)},
            measured={t.name: frozenset(p for p in t.profile.points if p.ok) for t in problem.types},
            packed={
                t.name: frozenset(r for r in problem.resources if r.is_memory or measured(r, t.profile))
                for t in problem.types
            },
        )


def point_problems(
    problem: Problem, where: str, points: Iterable[ProfilePoint], gpu_type: GpuType, index: PlanIndex
) -> list[str]:
    """What is wrong with the points one server (a GPU or a slice) runs, each a line; O(its points)."""
    out = []
    pins = problem.rules.pin_of
    t = index.type_index[gpu_type.name]
    for p in points:
        if p.model not in index.targets:
            out.append(f"{where}: model {p.model} is not in the problem")
            continue
        if p not in index.measured[gpu_type.name]:
            out.append(f"{where}: {p.model} runs at a point not measured on {gpu_type.name}")
        elif not problem.choose_points and index.fixed.get((p.model, t)) != p:
            out.append(f"{where}: {p.model} runs at a point the problem did not choose")
        target = index.targets[p.model]
        for attr, name, bound in target.bounds() if target else ():
            value = getattr(p, attr)
            if value is None or value > bound:
                out.append(f"{where}: {p.model} {name} {value} ms above its bound {bound:g} ms")
        if pins.get(p.model, gpu_type.name) != gpu_type.name:
            out.append(f"{where}: {p.model} is pinned to {pins[p.model]}")
    return out
