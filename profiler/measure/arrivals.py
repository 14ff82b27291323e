"""Poisson arrivals for open-loop load: the one place inter-arrival times are drawn.

An open-loop load at rate r/s starts requests at the instants of a Poisson process: independent
exponential gaps of mean 1/r, whatever is in flight (perf_analyzer's ``--request-distribution
poisson``). Seeded, so two runs of one point send at the same offsets.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator


def poisson_gaps(rate: float, seed: int = 0) -> Iterator[float]:
    """Seconds between successive arrivals of a Poisson process of ``rate`` per second, without end.

    Raises:
        ValueError: ``rate`` is not positive.

    """
    if not rate > 0:
        raise ValueError(f"a request rate must be positive, got {rate}")
    rng = random.Random(seed)
    while True:
        yield rng.expovariate(rate)


async def poisson_ticks(rate: float, seed: int = 0) -> AsyncIterator[float]:
    """Sleep until each arrival of the process (started now) and yield its scheduled instant.

    The schedule is absolute (``time.monotonic``), so a late wake-up does not slow the rate down.
    """
    arrival = time.monotonic()
    for gap in poisson_gaps(rate, seed):
        arrival += gap
        await asyncio.sleep(max(0.0, arrival - time.monotonic()))
        yield arrival
