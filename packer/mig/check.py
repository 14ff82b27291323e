"""The independent check of a sliced GPU, in real numbers, from the raw profiles and the product table.

Per sliced GPU: the layout is one the driver accepts (``layouts.layout_problems``), its type may be
sliced, and per slice (its own server): no model twice, the model limit, each point measured on the
type (and the one the problem chose, within its p99 bound, on its pinned type), and for every packed
resource ``server + Σ (model − server)`` within the slice's limit (memory: the profile's; a
utilization scaled by 7/g against 100 %); the reported totals match.
"""

from __future__ import annotations

from collections import Counter

from packer.check_index import PlanIndex, point_problems
from packer.inputs import GpuType
from packer.mig.layouts import Slice, layout_problems
from packer.mig.products import COMPUTE_SLICES, mig_product
from packer.plan import Gpu, MigSlice
from packer.problem import Problem
from packer.resources import limit, point_demand

_TOLERANCE = 1e-6


def _close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= _TOLERANCE * max(1.0, abs(a), abs(b))


def servers(gpu: Gpu) -> list[tuple[tuple[int, int], list[str]]]:
    """The servers of ``gpu`` as ((GPU index, slice start or −1 for the whole GPU), models)."""
    if gpu.mig is None:
        return [((gpu.index, -1), [p.model for p in gpu.points])]
    return [((gpu.index, s.start), [p.model for p in s.points]) for s in gpu.mig]


def _capacity(
    problem: Problem, where: str, part: MigSlice, gpu_type: GpuType, compute: int, index: PlanIndex
) -> list[str]:
    out = []
    factor = COMPUTE_SLICES / compute
    for r in problem.resources:
        if r not in index.packed[gpu_type.name]:
            continue
        scale = 1.0 if r.is_memory else factor
        server = (getattr(gpu_type.profile.server, r.attr) or 0.0) * scale
        memory = mig_product(gpu_type.mig).profile(part.profile).memory_mb
        allowed = limit(r, memory, problem.thresholds, problem.rules.headroom_pct)
        raw = server / scale
        # A slowdown inflates a utilization at most to a whole GPU's room, as the problem counts it.
        whole = limit(r, gpu_type.usable_memory_mb, problem.thresholds, problem.rules.headroom_pct) - raw
        total = server + sum(
            scale * (point_demand(r, p, raw, problem.slowdown.get(p.model, 1.0), whole) or 0.0)
            for p in part.points
        )
        if total > allowed + _TOLERANCE:
            out.append(f"{where}: {r.name} {total:g} {r.unit} > the slice's limit {allowed:g}")
        if r.is_memory and not _close(part.memory_mb, total):
            out.append(f"{where}: reported {r.name} {part.memory_mb:g}, actual {total:g}")
    return out


def check_sliced_gpu(problem: Problem, gpu: Gpu, gpu_type: GpuType, index: PlanIndex) -> list[str]:
    """Every violation on a sliced GPU (``gpu.mig`` set), as sentences; O(models on the GPU).

    ``index`` is ``check_plan``'s per-plan index (targets, fixed points, measured points per type).
    """
    where = f"GPU {gpu.index} ({gpu.gpu_type})"
    if gpu_type.mig is None:
        return [f"{where} is cut into MIG slices but its type has no mig product"]
    product = mig_product(gpu_type.mig)
    out = [f"{where}: {p}" for p in layout_problems(product, [Slice(s.start, s.profile) for s in gpu.mig])]
    if out:
        return out
    if gpu.gpu_memory_mb != gpu_type.memory_mb or gpu.cost_per_hour != gpu_type.cost_per_hour:
        out.append(f"{where}: memory or cost differs from its type's")
    if Counter(p for s in gpu.mig for p in s.points) != Counter(gpu.points):
        out.append(f"{where}: its slices do not run exactly its models")
    most = problem.rules.max_models_per_gpu
    for part in gpu.mig:
        at = f"{where} slice {part.profile}@{part.start}"
        names = [p.model for p in part.points]
        if not names:
            out.append(f"{at} is empty")
        out += [f"{at} runs {n} twice" for n, c in Counter(names).items() if c > 1]
        if most is not None and len(names) > most:
            out.append(f"{at} runs {len(names)} models, more than {most}")
        out += _capacity(problem, at, part, gpu_type, product.profile(part.profile).compute, index)
        out += point_problems(problem, at, part.points, gpu_type, index)
    if not _close(gpu.memory_mb, sum(s.memory_mb for s in gpu.mig)):
        out.append(f"{where}: reported memory {gpu.memory_mb:g} is not the sum of its slices'")
    return out
