"""Slowdowns measured when models share a GPU, learned from ``gpupack validate`` results.

Utilizations do not add up: two models planned at 96 % summed GPU utilization were measured at
70–78 % and still lost 15–24 % of their throughput (``utilization.gpu`` says "a kernel was
running", not "how much of the GPU"). So the plan cannot trust the profiled utilizations of
co-located models; it can trust what validation measured. A GPU planned at U % summed utilization
(server included, ``planned_gpu_utilization_pct``) above 100 % is oversubscribed: sharing its time,
each model can at best deliver ``share = 100 / U`` of its promise. What a model lost beyond that is
what sharing itself cost it, and that carries over to any other GPU it shares. For a model m
validated on a GPU with other models,

    slowdown[m] = share × promised throughput / measured throughput   (at least 1; the worst run counts)

with ``share = min(1, 100 / U)`` (1 when the plan gives no utilization). A re-plan counts m's GPU
and memory-controller utilization as ``slowdown × profiled`` (server removed,
``resources.own_demand``): a model that ran 30 % slow beside others needs 30 % more of a GPU's time
to keep its promise. On an H200 (benchmarks/results/h200-2026-12-01), six models planned at 510 %
on one GPU delivered 0.18 of their promises against a share of 0.196: a slowdown of 1.08, not the
5.4 the raw ratio would have charged. Models validated alone tell nothing about sharing and keep 1.
A model that served nothing beside others gets ``NO_SHARING``, which keeps it on a GPU of its own.

A slowdown per model does not carry over between partners, though: on an H200
(benchmarks/results/h200-2026-12-01-b) a light ResNet-18
ran 1.12× slow beside one model at concurrency 4 and 1.40× beside another at concurrency 1, and a
re-plan with both slowdowns put the same failing pair together again (its inflated sum still fit).
So a measured group is also taken at its word: the models of a GPU that fell short without being
oversubscribed (U ≤ 100 %, or not given) are kept ``apart`` in the re-plan (every pair of them):
a plan never repeats a placement that was measured not to hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from profiler import ValidatedGpu, falls_short, read_validation

# A slowdown this large leaves no room for another model: a model that served nothing when sharing.
NO_SHARING = 100.0


@dataclass(frozen=True)
class Interference:
    """What validation runs teach a re-plan: slowdowns per model, groups measured not to hold."""

    slowdowns: dict[str, float]
    apart: tuple[tuple[str, ...], ...] = ()


def _gpu(gpu: ValidatedGpu, min_ratio: float) -> tuple[dict[str, float], tuple[str, ...]]:
    """One validated GPU's slowdowns, and its models if they fell short without oversubscription."""
    if len(gpu.models) < 2:
        return {}, ()
    planned = gpu.planned_gpu_util_pct
    share = min(1.0, 100.0 / planned) if planned and planned > 0 else 1.0
    found, short = {}, False
    for model in gpu.models:
        promised, measured = model.promised_throughput, model.measured_throughput or 0.0
        found[model.name] = max(1.0, share * promised / measured) if measured > 0 else NO_SHARING
        short = short or falls_short(measured, promised, min_ratio)
    return found, (tuple(found) if short and share == 1.0 else ())


def read_interference(paths: Iterable[Path], known: Iterable[str] | None = None) -> Interference:
    """Slowdowns (the worst per model) and groups to keep apart, over every validation file in ``paths``.

    ``known``: the models being planned, if given; groups keep only those (a validation may come from a
    larger fleet), and a group left with fewer than two is dropped. Each file is read by
    ``profiler.base.validation_file``, which also says what falls short and at which ``min_ratio``.
    """
    keep = None if known is None else set(known)
    slowdowns: dict[str, float] = {}
    apart: list[tuple[str, ...]] = []
    for path in paths:
        validation = read_validation(path)
        for gpu in validation.gpus:
            found, group = _gpu(gpu, validation.min_ratio)
            for model, slowdown in found.items():
                slowdowns[model] = round(max(slowdowns.get(model, 1.0), slowdown), 4)
            group = tuple(m for m in group if keep is None or m in keep)
            if len(group) > 1 and group not in apart:
                apart.append(group)
    return Interference(slowdowns, tuple(apart))
