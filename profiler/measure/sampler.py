"""A background thread that samples the GPU and the server's processes while points are measured.

Every ``interval_s`` (default 100 ms) it reads the GPU source (NVML locally, the metrics endpoint
remotely; none on a host without NVML) and the server's process tree (local mode only). A point's
resource columns are then the maxima over the time its measurement windows span, and its memory
columns the maxima from just before its first request (``summarize``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from profiler.measure.stats import max_in, max_rate
from profiler.server.nvml import GpuSample
from profiler.server.procfs import HostSample, TreeUsage

DEFAULT_INTERVAL_S = 0.1
# CPU time advances in 10 ms clock ticks: a CPU % is only meaningful averaged over about a second.
CPU_RATE_SPAN_S = 1.0


class GpuSource(Protocol):
    """Something that reads a GPU: ``NvmlGpuSource`` or ``MetricsGpuSource``."""

    def sample(self, t: float, pids: Collection[int]) -> GpuSample | None:
        """One reading at time ``t``; ``pids`` are the server's processes (for per-process memory)."""

    def close(self) -> None:
        """Release what the source holds."""


@dataclass(frozen=True)
class ResourceUse:
    """Maxima over an interval; None where nothing was sampled. Units as in the profile's columns."""

    gpu_util_pct: float | None = None
    mem_util_pct: float | None = None
    sm_activity_pct: float | None = None
    memory_mb: float | None = None
    process_memory_mb: float | None = None
    host_memory_mb: float | None = None
    server_cpu_pct: float | None = None


def summarize(
    gpu: Sequence[GpuSample],
    host: Sequence[HostSample],
    start: float,
    end: float,
    memory_start: float | None = None,
) -> ResourceUse:
    """The maxima of every reading over ``[start, end]``; CPU % is the busiest ~1 s within it.

    Memory maxima (device, per process, host) are taken from ``memory_start`` on when it is given:
    memory a model allocates on its first requests (workspaces, CUDA graphs, caches) stays allocated,
    but the peak of a first request can be brief, so a point's memory window starts before the point's
    first request while its utilizations come from the measured windows alone.
    """
    memory_from = start if memory_start is None else min(memory_start, start)

    def gpu_max(name: str, since: float = start) -> float | None:
        return max_in([(s.t, getattr(s, name)) for s in gpu], since, end)

    cpu_rate = max_rate([(s.t, s.cpu_seconds) for s in host], start, end, CPU_RATE_SPAN_S)
    return ResourceUse(
        gpu_util_pct=gpu_max("gpu_util_pct"),
        mem_util_pct=gpu_max("mem_util_pct"),
        sm_activity_pct=gpu_max("sm_activity_pct"),
        memory_mb=gpu_max("memory_used_mb", memory_from),
        process_memory_mb=gpu_max("process_memory_mb", memory_from),
        host_memory_mb=max_in([(s.t, s.rss_mb) for s in host], memory_from, end),
        server_cpu_pct=None if cpu_rate is None else round(100 * cpu_rate, 1),
    )


class Sampler:
    """Samples in a daemon thread between ``start()`` and ``stop()`` (or as a context manager)."""

    def __init__(
        self,
        gpu: GpuSource | None,
        tree: TreeUsage | None,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gpu = gpu
        self._tree = tree
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpu_samples: list[GpuSample] = []
        self._host_samples: list[HostSample] = []
        self.failures = 0
        self.first_failure = ""

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start sampling (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gpupack-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop sampling and release the GPU source."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._gpu is not None:
            self._gpu.close()

    def use(self, start: float, end: float, memory_start: float | None = None) -> ResourceUse:
        """The maxima over ``[start, end]``, memory from ``memory_start`` (times of this sampler's clock)."""
        with self._lock:
            gpu, host = list(self._gpu_samples), list(self._host_samples)
        return summarize(gpu, host, start, end, memory_start)

    @property
    def has_sources(self) -> bool:
        """False when there is nothing to sample (a remote server without GPU metrics)."""
        return self._gpu is not None or self._tree is not None

    def now(self) -> float:
        """The sampler's clock."""
        return self._clock()

    def _run(self) -> None:
        next_t = self._clock()
        while not self._stop.is_set():
            self._sample_once(self._clock())
            next_t = max(next_t + self._interval_s, self._clock())  # late: skip, don't burst
            self._stop.wait(max(0.0, next_t - self._clock()))

    def _sample_once(self, t: float) -> None:
        try:
            host = self._tree.sample(t) if self._tree else None
            gpu = self._gpu.sample(t, host.pids if host else ()) if self._gpu else None
        except Exception as exc:  # a failed reading must not end sampling; the run reports it
            self.failures += 1
            self.first_failure = self.first_failure or f"{type(exc).__name__}: {exc}"
            return
        with self._lock:
            if host is not None:
                self._host_samples.append(host)
            if gpu is not None:
                self._gpu_samples.append(gpu)
