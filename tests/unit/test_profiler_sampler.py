"""Resource maxima from recorded samples, and the sampler thread's life."""

from __future__ import annotations

import time

from profiler.measure.sampler import ResourceUse, Sampler, summarize
from profiler.server.nvml import GpuSample
from profiler.server.procfs import HostSample


def _gpu(
    t: float, util: float, memory: float, process: float | None = None, sm: float | None = None
) -> GpuSample:
    return GpuSample(t, util, util / 2, memory, process_memory_mb=process, sm_activity_pct=sm)


def test_summarize_reports_the_maxima_over_the_interval_only():
    gpu = [
        _gpu(0.5, 99, 9000),
        _gpu(1.0, 40, 1200, 700, 31.5),
        _gpu(1.5, 60, 1300, 800),
        _gpu(9.0, 100, 9999),
    ]
    host = [HostSample(t / 10, cpu_seconds=0.25 * t / 10, rss_mb=100 + t, pids=(1,)) for t in range(10, 31)]
    use = summarize(gpu, host, start=1.0, end=3.0)
    assert use.gpu_util_pct == 60 and use.mem_util_pct == 30
    assert use.memory_mb == 1300 and use.process_memory_mb == 800 and use.sm_activity_pct == 31.5
    assert use.host_memory_mb == 130
    assert use.server_cpu_pct == 25.0  # 0.25 CPU-seconds per second = 25 % of one core


def test_memory_maxima_start_before_the_first_request_while_utilizations_keep_to_the_windows():
    # Recorded shape of a first batch: a brief peak at t=1.2 (workspace, CUDA graph capture), then the
    # steady state the 3 measured windows (t=3..6) see.
    gpu = [
        _gpu(0.9, 5, 2000, 1500),
        _gpu(1.2, 100, 2087, 1587),
        _gpu(1.5, 20, 2000, 1500),
        *(_gpu(3.0 + t / 2, 60, 2000, 1500) for t in range(7)),
    ]
    host = [HostSample(t / 2, cpu_seconds=t / 4, rss_mb=300 + 50 * (t == 2), pids=(1,)) for t in range(14)]
    windows_only = summarize(gpu, host, start=3.0, end=6.0)
    assert windows_only.memory_mb == 2000 and windows_only.host_memory_mb == 300  # the peak missed
    use = summarize(gpu, host, start=3.0, end=6.0, memory_start=1.0)
    assert (use.memory_mb, use.process_memory_mb, use.host_memory_mb) == (2087, 1587, 350)
    assert use.gpu_util_pct == 60  # the warm-up's 100 % is not the point's utilization
    assert use.server_cpu_pct == windows_only.server_cpu_pct


def test_summarize_without_samples_reports_nothing():
    assert summarize([], [], 0.0, 10.0) == ResourceUse()


class _Source:
    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    def sample(self, t: float, pids: object) -> GpuSample:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("a reading failed")
        return _gpu(t, float(self.calls), 100.0)

    def close(self) -> None:
        self.closed = True


def test_sampler_thread_samples_until_stopped_and_survives_a_failed_reading():
    source = _Source()
    with Sampler(source, None, interval_s=0.01) as sampler:
        start = sampler.now()
        time.sleep(0.2)
        use = sampler.use(start, sampler.now())
    assert source.closed and source.calls >= 5
    assert sampler.failures == 1 and "a reading failed" in sampler.first_failure
    assert use.gpu_util_pct >= 3 and use.memory_mb == 100.0
    calls = source.calls
    time.sleep(0.05)
    assert source.calls == calls  # stopped
