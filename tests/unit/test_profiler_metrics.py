"""Reading a remote server's GPUs from its Prometheus metrics (text recorded from Triton 2.51)."""

from __future__ import annotations

import pytest

from profiler.base.errors import GpupackError
from profiler.measure.metrics import MetricsGpuSource, fetch_metrics, parse_gpu_metrics

GPU_METRICS = """\
# HELP nv_inference_count Number of inferences performed
# TYPE nv_inference_count counter
nv_inference_count{model="resnet",version="1"} 1200
# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{gpu_uuid="GPU-aaaa"} 0.41
nv_gpu_utilization{gpu_uuid="GPU-bbbb"} 0
# HELP nv_gpu_memory_total_bytes GPU total memory, in bytes
# TYPE nv_gpu_memory_total_bytes gauge
nv_gpu_memory_total_bytes{gpu_uuid="GPU-aaaa"} 85520809984
nv_gpu_memory_total_bytes{gpu_uuid="GPU-bbbb"} 85520809984
# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes
# TYPE nv_gpu_memory_used_bytes gauge
nv_gpu_memory_used_bytes{gpu_uuid="GPU-aaaa"} 1790000000
nv_gpu_memory_used_bytes{gpu_uuid="GPU-bbbb"} 480000000
# HELP nv_cpu_utilization CPU utilization rate [0.0 - 1.0]
# TYPE nv_cpu_utilization gauge
nv_cpu_utilization 0.09
"""
CPU_ONLY = GPU_METRICS[GPU_METRICS.index("# HELP nv_cpu_utilization") :]


def test_gpu_metrics_are_read_per_gpu_in_percent_and_mb():
    gpus = parse_gpu_metrics(GPU_METRICS)
    assert sorted(gpus) == ["GPU-aaaa", "GPU-bbbb"]
    a = gpus["GPU-aaaa"]
    assert a.utilization_pct == pytest.approx(41.0)
    assert a.memory_used_mb == pytest.approx(1790.0) and a.memory_total_mb == pytest.approx(85520.809984)


def test_a_cpu_only_server_reports_no_gpu():
    assert parse_gpu_metrics(CPU_ONLY) == {}


def test_unreachable_metrics_endpoint_is_a_clear_error_and_a_missing_sample_mid_run():
    with pytest.raises(GpupackError, match="cannot read the server's metrics at http://127.0.0.1:9/metrics"):
        fetch_metrics("http://127.0.0.1:9/metrics", timeout_s=2)
    assert MetricsGpuSource("http://127.0.0.1:9/metrics").sample(0.0) is None
