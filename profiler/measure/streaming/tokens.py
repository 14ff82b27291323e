"""The arithmetic of a streaming point: token timings, their percentiles, and memory per sequence.

Pure functions on recorded times (seconds, one monotonic clock), so that the rules can be tested
without a server. A token is one response carrying output (the vLLM and TensorRT-LLM backends send one
per generated token, or per chunk of tokens, when streaming).

* TTFT: from sending a request to its first token. Inter-token latency (ITL): every gap between two
  consecutive tokens of one request, pooled over the point's requests (so a long request weighs more).
* Request latency: from sending to the final response.
* Output tokens/s: the tokens that arrived within the measured window, whichever request they belong
  to, over the window's length. Requests/s: output tokens/s over the mean output tokens of the complete
  requests (counting final responses in a short window is coarse: at 1.9 requests/s a 3 s window sees
  5 or 6, ±10 %; tokens come 16 times as often).
* Memory: ``fit_memory`` is the least-squares line through (sequences in flight, peak memory); its
  slope is the memory per sequence in flight (an LLM's KV cache) and its intercept what the server and
  the loaded model hold with no sequence (the weights).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from profiler.base.errors import InputError
from profiler.measure.stats import percentile

# The percentiles of TTFT and ITL a point reports (the profile's ttft_pXX_ms / itl_pXX_ms columns).
TOKEN_PERCENTILES = (50, 90, 99)
# Request latency: the classic profile's columns.
LATENCY_PERCENTILES = (50, 90, 95, 99)
_LENGTH = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class TokenLength:
    """Tokens per request: ``low`` always, or uniform whole numbers within ``[low, high]``."""

    low: int
    high: int

    def __post_init__(self) -> None:
        for value in (self.low, self.high):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"a token length is a whole number, got {value!r}")
        if not 1 <= self.low <= self.high:
            raise InputError(
                f"a token length is at least 1 token (LOW-HIGH: LOW at most HIGH), got {self.low}-{self.high}"
            )

    @classmethod
    def parse(cls, text: str, what: str) -> TokenLength:
        """``"128"`` (fixed) or ``"64-192"`` (uniform); ``what`` names the option in errors.

        Raises:
            InputError: not that form, 0, or LOW above HIGH (one line, naming ``what``).

        """
        match = _LENGTH.match(str(text))
        if not match:
            raise InputError(f"{what}: expected N or LOW-HIGH tokens, got {text!r}")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if low < 1:
            raise InputError(f"{what}: a request needs at least 1 token, got {text!r}")
        if high < low:
            raise InputError(f"{what}: LOW above HIGH in {text!r}")
        return cls(low, high)

    @property
    def mean(self) -> float:
        """The mean length."""
        return (self.low + self.high) / 2

    def draw(self, rng: random.Random) -> int:
        """One request's length."""
        return self.low if self.low == self.high else rng.randint(self.low, self.high)

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True)
class RequestTiming:
    """One request: when it was sent, when each token arrived, when its final response came (or None)."""

    sent: float
    tokens: tuple[float, ...]
    done: float | None = None

    @property
    def ttft_ms(self) -> float | None:
        """Time to first token, ms."""
        return (self.tokens[0] - self.sent) * 1000 if self.tokens else None

    @property
    def gaps_ms(self) -> list[float]:
        """The inter-token latencies of this request, ms."""
        return [(b - a) * 1000 for a, b in zip(self.tokens, self.tokens[1:], strict=False)]

    @property
    def latency_ms(self) -> float | None:
        """From sending to the final response, ms (None while it runs)."""
        return None if self.done is None else (self.done - self.sent) * 1000


@dataclass(frozen=True)
class StreamSummary:
    """One point's figures (units as in the profile's columns)."""

    ttft_ms: dict[int, float]
    itl_ms: dict[int, float]
    latency_ms: dict[int, float]
    tokens_per_s: float
    requests_per_s: float
    requests: int
    mean_output_tokens: float


def summarize_stream(timings: Sequence[RequestTiming], start: float, end: float) -> StreamSummary:
    """The point's figures from the requests that completed within ``[start, end]``.

    Tokens/s counts every token that arrived within the window; percentiles and the mean output
    length come from the complete requests sent at or after ``start``.

    Raises:
        ValueError: the window is empty, or no request was both sent and completed within it.

    """
    if not end > start:
        raise ValueError("the measured window is empty")
    complete = [t for t in timings if t.done is not None and start <= t.sent and t.done <= end and t.tokens]
    if not complete:
        raise ValueError("no request was sent and completed within the measured window")
    ttfts = [t.ttft_ms for t in complete if t.ttft_ms is not None]
    gaps = [gap for t in complete for gap in t.gaps_ms]
    latencies = [t.latency_ms for t in complete if t.latency_ms is not None]
    seconds = end - start
    tokens = sum(1 for t in timings for at in t.tokens if start <= at <= end)
    mean_tokens = sum(len(t.tokens) for t in complete) / len(complete)
    return StreamSummary(
        ttft_ms={q: percentile(ttfts, q) for q in TOKEN_PERCENTILES},
        # One-token requests have no gap: their ITL is undefined, not 0.
        itl_ms={q: percentile(gaps, q) for q in TOKEN_PERCENTILES} if gaps else {},
        latency_ms={q: percentile(latencies, q) for q in LATENCY_PERCENTILES},
        tokens_per_s=tokens / seconds,
        requests_per_s=tokens / seconds / mean_tokens,
        requests=len(complete),
        mean_output_tokens=mean_tokens,
    )


@dataclass(frozen=True)
class MemoryFit:
    """``memory = intercept_mb + per_sequence_mb * sequences`` fitted over ``points`` points."""

    intercept_mb: float
    per_sequence_mb: float
    points: int
    max_residual_mb: float


def fit_memory(samples: Sequence[tuple[float, float]]) -> MemoryFit:
    """Least squares over (sequences in flight, peak memory MB); the slope is never below 0.

    Raises:
        ValueError: fewer than two distinct numbers of sequences, or a value that is not finite.

    """
    if any(not (math.isfinite(x) and math.isfinite(y)) for x, y in samples):
        raise ValueError("memory samples must be finite numbers")
    xs = [float(x) for x, _ in samples]
    if len(set(xs)) < 2:
        raise ValueError("fitting memory per sequence needs points at two or more concurrencies")
    n = len(samples)
    mean_x = sum(xs) / n
    mean_y = sum(y for _, y in samples) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in samples)
    # Memory that shrinks with load is noise (a freed cache): say no growth rather than a negative one.
    slope = max(0.0, sxy / sxx)
    intercept = mean_y - slope * mean_x
    residual = max(abs(y - (intercept + slope * x)) for x, y in samples)
    return MemoryFit(intercept_mb=intercept, per_sequence_mb=slope, points=n, max_residual_mb=residual)
