"""What a bin-packing engine hands back: the bin of every item and how far the count is proven."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def numbered_by_first_use(assignment: Sequence[int]) -> list[int]:
    """Bins renumbered 0..k-1 in the order items first use them (a solver may skip or leave bins empty)."""
    number = {b: k for k, b in enumerate(dict.fromkeys(assignment))}
    return [number[b] for b in assignment]


@dataclass(frozen=True)
class Packing:
    """GPU (bin) index per item, in input order and numbered 0..k-1, with its proof status.

    ``lower`` is a proven lower bound on the GPU count; ``proven`` says the count is optimal
    (it equals ``lower``, or an exact search closed). ``ffd_count`` is first-fit decreasing's
    count, for comparison; ``status`` is ``OPTIMAL``, ``FEASIBLE`` (improved on the heuristics,
    not proven) or ``FFD`` (the heuristic plan stands).
    """

    assignment: tuple[int, ...]
    lower: int
    proven: bool
    status: str
    ffd_count: int
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        count = len(set(self.assignment))
        if sorted(set(self.assignment)) != list(range(count)):
            raise ValueError("bins must be numbered 0..k-1 with none empty")
        if self.lower > count:
            raise ValueError(f"lower bound {self.lower} above the {count} bins used")

    @property
    def count(self) -> int:
        """Bins (GPUs) used."""
        return len(set(self.assignment))
