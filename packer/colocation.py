r"""What models lose beside each other on one GPU, predicted from their profiles alone.

A model profiled alone at a point keeps the GPU busy ``u`` of the time (its own
``utilization.gpu``, the server's removed). Beside other models its GPU work waits for theirs, and
closed-loop load (a fixed number of requests in flight) turns every wait into lost throughput.
Summed utilization ≤ 100 % does not say what is lost: on an H200 pairs planned at 76–98 % summed
utilization delivered 0.67–0.89 of their promises (benchmarks/results/h200-2026-12-01-b).

The model, for models i on one GPU with utilizations u_i (fractions) and c_i requests in flight:

    w(c_i, c_j) = 2 c_j / (c_i + c_j)               how much j's work delays i's (1 at equal c)
    W_i         = Σ_{j ≠ i} w(c_i, c_j) · u_j        the partners' load i sees
    slowdown_i  = 1 + α · u_i · W_i                  its time per request, relative to alone
    ratio_i     = 1 / slowdown_i                     measured / profiled throughput, predicted

then, if the GPU would do more work than it has time for (Σ ratio_i · u_i > 1), every ratio is
scaled down by that sum (an oversubscribed GPU serves at most its time share).

Where it comes from. A closed loop at concurrency 1 spends u of its cycle on the GPU and 1 − u
elsewhere (the stub's CPU, the network). Each GPU phase meets a partner busy about u_j of the time
and waits for it: its cycle grows by u · u_j · (the wait per meeting, relative to its own GPU
phase), α. For two loops on a processor-shared GPU, exact mean-value analysis gives α = 1
(ratio 1 / (1 + u_1 u_2)); the H200's time-sliced GPU measured more. While both have work the GPU
does not share evenly: it serves them about in proportion to their requests in flight, so the
partner's share c_j / (c_i + c_j), relative to an even share, weighs its load (w). On the H200 a
model at c = 4 (59 %) beside one at c = 1 (38 %) lost 0.11 and the other 0.335: both are α ≈ 1.4
with w = 0.4 and 1.6. Alone the ratio is 1, whatever the model. α is fitted on the recorded H200
validations, leave one group out (``benchmarks/colocation_fit.py``, table and errors in
``benchmarks/results/colocation-fit.md``).

What the planner needs is the converse (``partner_room``): the most weighted load its partners may
have for model i to keep ``ratio_i ≥ θ``,

    W_i ≤ (1/θ − 1) / (α · u_i),

one number per profiled point. Per GPU and per concurrency c present, W is a fixed weighted sum of
the GPU's summed utilization per concurrency, so the plan's condition stays linear in its choices
(``choice.model``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from profiler import ProfilePoint

# Fitted on the recorded H200 validations (benchmarks/results/colocation-fit.md): the wait per meeting
# relative to a model's own GPU phase.
ALPHA = 1.39
# The least predicted ratio (measured / profiled throughput) a model may be planned at beside others.
DEFAULT_MIN_RATIO = 0.9


@dataclass(frozen=True)
class Load:
    """One model's load on a GPU, as its profile measured it alone.

    ``gpu_util``: the fraction of time (0–1) its kernels kept the GPU busy, the server's removed;
    ``concurrency``: its requests in flight (an open-loop rate point counts as 1).
    """

    gpu_util: float
    concurrency: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gpu_util) and self.gpu_util >= 0):
            raise ValueError(f"gpu_util must be finite and ≥ 0, not {self.gpu_util}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be ≥ 1, not {self.concurrency}")


def weight(mine: int, theirs: int) -> float:
    """w(c_i, c_j) = 2 c_j / (c_i + c_j): how much a partner at ``theirs`` in flight delays ``mine``."""
    return 2 * theirs / (mine + theirs)


def ratios(loads: Sequence[Load], alpha: float = ALPHA) -> tuple[float, ...]:
    """Each model's predicted measured / profiled throughput beside the others (module docstring)."""
    out = []
    for i, x in enumerate(loads):
        seen = sum(weight(x.concurrency, y.concurrency) * y.gpu_util for j, y in enumerate(loads) if j != i)
        out.append(1 / (1 + alpha * x.gpu_util * seen))
    busy = sum(r * x.gpu_util for r, x in zip(out, loads, strict=True))
    scale = 1 / busy if busy > 1 else 1.0
    return tuple(r * scale for r in out)


def partner_room(load: Load, min_ratio: float, alpha: float = ALPHA) -> float:
    """The most weighted load (fraction) partners may put on ``load`` for it to keep ``min_ratio``.

    ``math.inf`` for a load that uses no GPU time or a ``min_ratio`` of 0 (nothing to keep).
    """
    if not 0 <= min_ratio <= 1:
        raise ValueError(f"min_ratio must be within [0, 1], not {min_ratio}")
    if load.gpu_util <= 0 or min_ratio <= 0:
        return math.inf
    return (1 / min_ratio - 1) / (alpha * load.gpu_util)


def load_of(point: ProfilePoint, server_util_pct: float = 0.0) -> Load | None:
    """``point``'s load (its GPU utilization less the server's), ``None`` when it has none measured."""
    if point.gpu_util_pct is None:
        return None
    return Load(max(0.0, point.gpu_util_pct - server_util_pct) / 100, max(1, point.concurrency))


def min_ratio_for(point: ProfilePoint, min_ratio: float, max_latency_p99_ms: float | None) -> float:
    """The least ratio ``point`` may run at: ``min_ratio``, and within its p99 bound if it has one.

    Closed loop, latency is concurrency / throughput (Little's law): a model running at ratio r takes
    1/r as long per request, so a p99 bound L allows r ≥ p99 / L.
    """
    if max_latency_p99_ms and point.latency_p99_ms:
        return min(1.0, max(min_ratio, point.latency_p99_ms / max_latency_p99_ms))
    return min_ratio
