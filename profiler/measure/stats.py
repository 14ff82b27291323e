"""The arithmetic of a measurement: percentiles, window stability, maxima and rates over samples, ETA.

Pure functions on recorded numbers, so that the rules the profiler applies can be tested without a
server. Times are seconds on one monotonic clock; latencies are milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# perf_analyzer's rule (and the issue's): a point is stable when this many consecutive windows agree.
STABLE_WINDOWS = 3
# Latency percentiles reported for every point (the profile's latency_pXX_ms columns).
LATENCY_PERCENTILES = (50, 90, 95, 99)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` by the nearest-rank method (what perf_analyzer reports).

    The smallest value such that at least ``q`` % of the values are less than or equal to it.

    Raises:
        ValueError: ``values`` is empty or ``q`` is outside 0-100.

    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0-100, got {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def windows_agree(throughputs: Sequence[float], stability_pct: float, count: int = STABLE_WINDOWS) -> bool:
    """True when the last ``count`` throughputs all lie within ±``stability_pct`` % of their mean.

    A window in which nothing completed never counts as agreeing: the window was too short to say.
    """
    if len(throughputs) < count:
        return False
    last = throughputs[-count:]
    mean = sum(last) / count
    if mean <= 0 or min(last) <= 0:
        return False
    return all(abs(value - mean) <= stability_pct / 100 * mean for value in last)


@dataclass(frozen=True)
class Window:
    """One measurement window: requests that completed in ``[start, end)`` and their latencies (ms)."""

    start: float
    end: float
    latencies_ms: tuple[float, ...]

    @property
    def requests(self) -> int:
        """Requests completed in the window."""
        return len(self.latencies_ms)

    def throughput(self, batch_size: int) -> float:
        """Inferences (samples) per second in this window."""
        duration = self.end - self.start
        return self.requests * batch_size / duration if duration > 0 else 0.0


@dataclass(frozen=True)
class WindowSummary:
    """What a run of windows reports: throughput over their whole span and latency percentiles."""

    throughput: float
    latency_ms: dict[int, float]
    start: float
    end: float


def summarize_windows(windows: Sequence[Window], batch_size: int) -> WindowSummary:
    """Throughput over the windows' total duration and percentiles over all their latencies.

    Raises:
        ValueError: no window, or no request completed in any of them.

    """
    latencies = [value for window in windows for value in window.latencies_ms]
    if not latencies:
        raise ValueError("no request completed in the measurement windows")
    duration = sum(w.end - w.start for w in windows)
    throughput = len(latencies) * batch_size / duration
    return WindowSummary(
        throughput=throughput,
        latency_ms={q: percentile(latencies, q) for q in LATENCY_PERCENTILES},
        start=windows[0].start,
        end=windows[-1].end,
    )


def max_in(samples: Sequence[tuple[float, float | None]], start: float, end: float) -> float | None:
    """The largest value among ``(time, value)`` samples taken in ``[start, end]``; None if there is none."""
    values = [value for t, value in samples if start <= t <= end and value is not None]
    return max(values) if values else None


def max_rate(samples: Sequence[tuple[float, float]], start: float, end: float, span_s: float) -> float | None:
    """The largest rate of a cumulative counter over any ``span_s``-long stretch within ``[start, end]``.

    ``samples`` are ``(time, cumulative value)`` pairs in time order (e.g. CPU seconds used). Each
    sample in the interval is paired with the latest sample at least ``span_s`` before it (still
    inside the interval), so that the rate is averaged over at least ``span_s``: a 10 ms clock tick
    read every 100 ms is too coarse to mean anything on its own. If the interval is shorter than
    ``span_s``, its first and last samples give the one rate. None when fewer than two samples fall in it.
    """
    inside = [(t, v) for t, v in samples if start <= t <= end]
    if len(inside) < 2:
        return None
    best: float | None = None
    first = 0
    for t, value in inside[1:]:
        while first + 1 < len(inside) and t - inside[first + 1][0] >= span_s:
            first += 1
        t0, v0 = inside[first]
        if t - t0 >= span_s:
            rate = (value - v0) / (t - t0)
            best = rate if best is None else max(best, rate)
    if best is None:
        (t0, v0), (t1, v1) = inside[0], inside[-1]
        best = (v1 - v0) / (t1 - t0) if t1 > t0 else None
    return best


def eta_seconds(elapsed_s: float, done: int, total: int) -> float | None:
    """Remaining time if the remaining points take as long as the finished ones did on average."""
    if done <= 0:
        return None
    return elapsed_s / done * max(0, total - done)
