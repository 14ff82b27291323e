"""The servers a GPU can hold, in the solver's integers: the whole GPU, or one per MIG slice.

A GPU of a type without ``mig`` is one bin, the whole GPU (the multiple-choice problem's room). A
GPU of a MIG type is the whole GPU (MIG disabled) or a layout of slices (``layouts``); each slice
runs its own server, so a slice's room is ``limit(profile memory) − server`` in memory and
``limit(100 %) − server × 7/g`` in each utilization, and a model's utilization on a slice of g
compute slices counts ``7/g`` times its whole-GPU value (the slice has g/7 of the GPU's SMs).
Memory is not scaled. Integers as ``choice.params``: demands up, rooms down.

The lower bound (``slice_bound``) counts memory slices (8 per GPU, the whole GPU takes 8) and compute
slices (7): a model on a slice of span s takes at least ``s × f(demand / room)`` of them for any
dual-feasible function f (Fekete and Schepers' ``u_k``: items sharing a slice have Σ f ≤ 1), so
Σ over replicas of the cheapest such share, cost-weighted, bounds the plan's cost. With at most K
models per server, a replica also takes at least ``s / K`` (and ``g / K`` compute slices) of the
smallest server it fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from packer.choice.params import Params, min_replicas
from packer.mig.layouts import memory_slices
from packer.mig.products import COMPUTE_SLICES, MEMORY_SLICES, mig_product
from packer.problem import Problem
from packer.resources import limit, units_down, units_up

# The dual-feasible functions tried by the bound: the identity (0) and u_k for k = 1..10.
DFF_ORDERS = tuple(range(11))


@dataclass(frozen=True)
class Bin:
    """One server a GPU of a type can hold: whole (``profile`` None) or a MIG slice at ``start``."""

    profile: str | None
    start: int
    compute: int
    positions: tuple[int, ...]
    room: tuple[int, ...]
    # Per packed resource: the factor on a model's whole-GPU demand here (7/g for a utilization).
    scale: tuple[float, ...]

    @property
    def span(self) -> int:
        """Memory slices the bin takes (8 for the whole GPU)."""
        return len(self.positions)


def type_bins(problem: Problem, t: int) -> tuple[Bin, ...]:
    """The bins of GPU type ``t``: the whole GPU first, then every slice its MIG product allows."""
    whole = Bin(
        None,
        0,
        COMPUTE_SLICES,
        tuple(range(MEMORY_SLICES)),
        tuple(units_down(c) for c in problem.room[t]),
        (1.0,) * len(problem.resources),
    )
    gpu_type = problem.types[t]
    if gpu_type.mig is None:
        return (whole,)
    bins = [whole]
    headroom = problem.rules.headroom_pct
    for profile in mig_product(gpu_type.mig).profiles:
        factor = COMPUTE_SLICES / profile.compute
        scale = tuple(1.0 if r.is_memory else factor for r in problem.resources)
        room = tuple(
            units_down(limit(r, profile.memory_mb, problem.thresholds, headroom) - server * f)
            for r, server, f in zip(problem.resources, problem.server[t], scale, strict=True)
        )
        for start in profile.starts:
            positions = tuple(memory_slices(profile, start))
            bins.append(Bin(profile.name, start, profile.compute, positions, room, scale))
    return tuple(bins)


def bin_demand(problem: Problem, i: int, o: int, b: Bin) -> tuple[int, ...] | None:
    """Option ``o`` of item ``i`` on bin ``b``, in integers; ``None`` when it does not fit there."""
    demand = problem.items[i].options[o].demand
    scaled = tuple(units_up(d * s) for d, s in zip(demand, b.scale, strict=True))
    if any(room < 0 or d > room for d, room in zip(scaled, b.room, strict=True)):
        return None
    return scaled


def _dff(order: int, d: int, c: int) -> float:
    """Fekete–Schepers u_k(d/c) (k = ``order``; 0: the identity), a dual-feasible function."""
    if order == 0 or ((order + 1) * d) % c == 0:
        return d / c
    return ((order + 1) * d // c) / order


@dataclass(frozen=True)
class Fit:
    """Option ``option`` of an item fits bin ``bin`` of its type, with this integer demand."""

    option: int
    type: int
    bin: int
    demand: tuple[int, ...]


def fits(problem: Problem, bins: list[tuple[Bin, ...]]) -> list[list[Fit]]:
    """Per item, every (option, bin) where it fits: computed once, read by the model and the bound."""
    return [
        [
            Fit(o, option.type_index, b, d)
            for o, option in enumerate(item.options)
            for b, where in enumerate(bins[option.type_index])
            if (d := bin_demand(problem, i, o, where)) is not None
        ]
        for i, item in enumerate(problem.items)
    ]


def slice_bound(
    problem: Problem,
    params: Params,
    bins: list[tuple[Bin, ...]],
    found: list[list[Fit]],
    weights: tuple[int, ...],
) -> int:
    """A lower bound on Σ weight[type] over the GPUs of any plan meeting the targets (see the docstring)."""
    reps = [min_replicas(params, i, True) for i in range(len(found))]
    best = float(min(weights))
    most = problem.rules.max_models_per_gpu
    if most is not None:
        # At most K models per server: each replica takes at least 1/K of the smallest server it fits.
        for per_gpu, size in ((MEMORY_SLICES, lambda b: b.span), (COMPUTE_SLICES, lambda b: b.compute)):
            total = sum(
                reps[i] * min(weights[f.type] * size(bins[f.type][f.bin]) / (most * per_gpu) for f in fs)
                for i, fs in enumerate(found)
            )
            best = max(best, total)
    for order in DFF_ORDERS:
        for r in range(len(problem.resources)):
            for per_gpu, size in ((MEMORY_SLICES, lambda b: b.span), (COMPUTE_SLICES, lambda b: b.compute)):
                total = 0.0
                for i, item_fits in enumerate(found):
                    shares = []
                    for f in item_fits:
                        where = bins[f.type][f.bin]
                        share = size(where) * _dff(order, f.demand[r], max(where.room[r], 1)) / per_gpu
                        shares.append(weights[f.type] * share)
                    total += reps[i] * min(shares, default=0.0)
                best = max(best, total)
    return math.ceil(best - 1e-9)
