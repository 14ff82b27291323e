"""The sliced GPUs of a plan: each MIG instance with its models and totals, its server counted once each.

``planner.to_plan`` builds every GPU as if whole; ``sliced_gpus`` rebuilds those whose replicas run
on MIG slices: per slice, ``server + Σ model`` memory and the slice's utilization (× 7/g); per GPU,
the sum over its slices (the utilization as a share of the whole GPU).
"""

from __future__ import annotations

from dataclasses import replace

from packer.candidates import Option
from packer.mig.products import COMPUTE_SLICES, mig_product
from packer.plan import Gpu, MigSlice
from packer.problem import Problem
from packer.resources import GPU_UTIL, MEM_UTIL, Resource
from packer.solution import Solution


def _total(problem: Problem, t: int, resource: Resource, options: list[Option]) -> float | None:
    """One server's total of ``resource`` on type t (server once), as a share of the whole GPU."""
    if resource in problem.resources and problem.packs(t, resource):
        r = problem.resources.index(resource)
        return problem.server[t][r] + sum(o.demand[r] for o in options)
    values = [getattr(o.point, resource.attr) for o in options]
    return None if all(v is None for v in values) else sum(v or 0.0 for v in values)


def _sum(values: list[float | None]) -> float | None:
    return None if all(v is None for v in values) else sum(v or 0.0 for v in values)


def sliced_gpus(
    problem: Problem, solution: Solution, keys: list[tuple[int, int]], gpus: tuple[Gpu, ...]
) -> tuple[Gpu, ...]:
    """``gpus`` (numbered as ``keys``: (type, slot)) with each sliced GPU's layout and totals."""
    if not problem.sliced:
        return gpus
    parts: dict[tuple[int, int], dict[tuple[int, str], list[Option]]] = {}
    for p in sorted(solution.placements, key=lambda p: (p.item, p.option, p.slot)):
        if p.mig_slice is not None:
            option = problem.items[p.item].options[p.option]
            parts.setdefault((option.type_index, p.slot), {}).setdefault(p.mig_slice, []).append(option)
    out = []
    for gpu, key in zip(gpus, keys, strict=True):
        if key not in parts:
            out.append(gpu)
            continue
        t = key[0]
        product = mig_product(problem.types[t].mig)
        slices, memory, util, mem_util = [], [], [], []
        for (start, name), options in sorted(parts[key].items()):
            factor = COMPUTE_SLICES / product.profile(name).compute
            own = _total(problem, t, GPU_UTIL, options)
            memory.append(problem.server[t][0] + sum(o.demand[0] for o in options))
            util.append(own)
            mem_util.append(_total(problem, t, MEM_UTIL, options))
            slices.append(
                MigSlice(
                    name,
                    start,
                    tuple(o.point for o in options),
                    memory[-1],
                    None if own is None else own * factor,
                )
            )
        out.append(
            replace(
                gpu,
                memory_mb=sum(memory),
                gpu_util_pct=_sum(util),
                mem_util_pct=_sum(mem_util),
                mig=tuple(slices),
            )
        )
    return tuple(out)
