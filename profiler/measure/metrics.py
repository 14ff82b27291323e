"""GPU readings of a remote server, from its Prometheus metrics endpoint (remote mode).

Triton publishes ``nv_gpu_utilization`` (a 0-1 fraction) and ``nv_gpu_memory_used_bytes`` /
``nv_gpu_memory_total_bytes`` per GPU, labelled by ``gpu_uuid``; it has no memory-controller
utilization, so that column stays empty in remote mode. Triton refreshes these every 2 s by default
(``--metrics-interval-ms``), so scraping faster than ``MIN_SCRAPE_INTERVAL_S`` only repeats values.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from profiler.base.errors import GpupackError
from profiler.server.nvml import GpuSample

_MB = 1e6
MIN_SCRAPE_INTERVAL_S = 0.5
SCRAPE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class GpuMetrics:
    """One GPU as the server's metrics describe it."""

    uuid: str
    utilization_pct: float | None = None
    memory_used_mb: float | None = None
    memory_total_mb: float | None = None


def parse_gpu_metrics(text: str) -> dict[str, GpuMetrics]:
    """The GPUs in a Prometheus text exposition from Triton, by UUID (empty for a CPU-only server)."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise GpupackError(
            "remote mode reads the server's metrics with prometheus_client, which is not installed",
            "pip install prometheus-client",
        ) from None
    fields = {
        "nv_gpu_utilization": ("utilization_pct", 100.0),
        "nv_gpu_memory_used_bytes": ("memory_used_mb", 1 / _MB),
        "nv_gpu_memory_total_bytes": ("memory_total_mb", 1 / _MB),
    }
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in fields and "gpu_uuid" in sample.labels:
                name, scale = fields[sample.name]
                found.setdefault(sample.labels["gpu_uuid"], {})[name] = sample.value * scale
    return {uuid: GpuMetrics(uuid=uuid, **values) for uuid, values in found.items()}


def fetch_metrics(url: str, timeout_s: float = SCRAPE_TIMEOUT_S) -> str:
    """The metrics text at ``url``.

    Raises:
        GpupackError: the endpoint does not answer.

    """
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GpupackError(
            f"cannot read the server's metrics at {url} ({reason})",
            "pass --metrics-url, or start the server with metrics enabled (default port 8002)",
        ) from None


class MetricsGpuSource:
    """GPU samples from a remote server's metrics: the busiest GPU's utilization and memory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._last_t: float | None = None

    def sample(self, t: float, pids: Collection[int] = ()) -> GpuSample | None:
        """One scrape (``pids`` is ignored: a remote server's processes are not ours to see).

        None when the last scrape was less than ``MIN_SCRAPE_INTERVAL_S`` ago, when the server reports
        no GPU, or when the scrape fails mid-run.
        """
        if self._last_t is not None and t - self._last_t < MIN_SCRAPE_INTERVAL_S:
            return None
        self._last_t = t
        try:
            gpus = parse_gpu_metrics(fetch_metrics(self.url)).values()
        except GpupackError:
            return None
        if not gpus:
            return None
        return GpuSample(
            t=t,
            gpu_util_pct=_max(g.utilization_pct for g in gpus),
            mem_util_pct=None,
            memory_used_mb=_max(g.memory_used_mb for g in gpus),
        )

    def close(self) -> None:
        """Nothing to release."""


def _max(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
