"""What a search hands to the planner, whichever engine ran: the replicas placed and the proof.

The planner turns a ``Solution`` into a ``Plan`` (``planner.to_plan``) in one way for every engine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Placement:
    """A replica: ``problem.items[item].options[option]`` on GPU ``slot`` of that option's GPU type."""

    item: int
    option: int
    slot: int
    # On a GPU cut into MIG slices: the slice's (start, profile) (``packer.mig``); ``None``: the whole GPU.
    mig_slice: tuple[int, str] | None = None


@dataclass(frozen=True)
class Solution:
    """The best placements found, the goal's proven bound and how the search ended.

    ``bound`` is in the goal's units (GPUs, cost per hour, infer/s, target fraction) and ``gpu_bound``
    a lower bound on the GPU count; ``proven`` says the placements are optimal for the goal.
    ``status`` is ``OPTIMAL``, ``FEASIBLE`` (searched, not proven) or ``FFD`` (the first-fit
    decreasing plan stands); ``first_fit_gpus`` is that plan's GPU count, for comparison.
    """

    placements: tuple[Placement, ...]
    proven: bool
    bound: float
    gpu_bound: int
    status: str
    first_fit_gpus: int
    notes: tuple[str, ...] = ()
