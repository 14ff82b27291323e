"""NVML readings, against a stand-in for the pynvml module (this host has no NVIDIA driver).

The stand-in answers like NVML does on the H100 (../shared/gpu-host/README.md) and uses pynvml's own
ctypes structures for GPM, so that the calls the GPU host will make are exercised here.
"""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pynvml
import pytest

from profiler.server.nvml import GPM_INTERVAL_S, NvmlGpuSource, NvmlUnavailable, open_gpu


class _Error(Exception):
    pass


def _stand_in(
    gpm_supported: bool = True, failing: tuple[str, ...] = (), memory_v2: bool = False
) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    calls: list[str] = []

    def answer(name: str, value: object):
        def call(*args: object) -> object:
            calls.append(name)
            if name in failing:
                raise _Error(name)
            return value(*args) if callable(value) else value

        return call

    def metrics_get(request: pynvml.c_nvmlGpmMetricsGet_t) -> None:
        calls.append("nvmlGpmMetricsGet")
        assert request.numMetrics == 1 and request.metrics[0].metricId == pynvml.NVML_GPM_METRIC_SM_UTIL
        request.metrics[0].value = 31.7
        request.metrics[0].nvmlReturn = pynvml.NVML_SUCCESS

    nvml.calls = calls
    nvml.NVMLError = _Error
    nvml.NVML_SUCCESS = pynvml.NVML_SUCCESS
    nvml.NVML_GPM_METRICS_GET_VERSION = pynvml.NVML_GPM_METRICS_GET_VERSION
    nvml.NVML_GPM_METRIC_SM_UTIL = pynvml.NVML_GPM_METRIC_SM_UTIL
    nvml.c_nvmlGpmMetricsGet_t = pynvml.c_nvmlGpmMetricsGet_t
    nvml.nvmlInit = answer("nvmlInit", None)
    nvml.nvmlShutdown = answer("nvmlShutdown", None)
    nvml.nvmlDeviceGetCount = answer("nvmlDeviceGetCount", 1)
    nvml.nvmlDeviceGetHandleByIndex = answer("nvmlDeviceGetHandleByIndex", "handle-0")
    nvml.nvmlDeviceGetName = answer("nvmlDeviceGetName", b"NVIDIA H100 80GB HBM3")
    nvml.nvmlDeviceGetUUID = answer("nvmlDeviceGetUUID", "GPU-1234")
    nvml.nvmlSystemGetDriverVersion = answer("nvmlSystemGetDriverVersion", "580.159")
    if memory_v2:  # as on the H200: v2 says 645 MB reserved, and v1 counts them as used
        nvml.nvmlMemory_v2 = pynvml.nvmlMemory_v2

    def memory_info(handle: object, version: int | None = None) -> SimpleNamespace:
        name = "nvmlDeviceGetMemoryInfo" + ("_v2" if version else "")
        calls.append(name)
        if name in failing:
            raise _Error(name)
        if version is not None:
            assert version == pynvml.nvmlMemory_v2
            return SimpleNamespace(total=85_520_809_984, used=1_790_000_000, reserved=645_000_000)
        return SimpleNamespace(total=85_520_809_984, used=1_790_000_000 + 645_000_000 * memory_v2)

    nvml.nvmlDeviceGetMemoryInfo = memory_info
    nvml.nvmlGpmQueryDeviceSupport = answer(
        "nvmlGpmQueryDeviceSupport", SimpleNamespace(isSupportedDevice=gpm_supported)
    )
    nvml.nvmlDeviceGetUtilizationRates = answer(
        "nvmlDeviceGetUtilizationRates", SimpleNamespace(gpu=41, memory=15)
    )
    processes = [
        SimpleNamespace(pid=100, usedGpuMemory=580_000_000),  # the server
        SimpleNamespace(pid=101, usedGpuMemory=730_000_000),  # its model's stub
        SimpleNamespace(pid=999, usedGpuMemory=5_000_000_000),  # someone else's
        SimpleNamespace(pid=102, usedGpuMemory=None),  # unknown (WDDM)
    ]
    nvml.nvmlDeviceGetComputeRunningProcesses = answer("nvmlDeviceGetComputeRunningProcesses", processes)
    nvml.nvmlGpmSampleAlloc = answer("nvmlGpmSampleAlloc", lambda: pynvml.c_nvmlGpmSample_t())
    nvml.nvmlGpmSampleGet = answer("nvmlGpmSampleGet", None)
    nvml.nvmlGpmSampleFree = answer("nvmlGpmSampleFree", None)
    nvml.nvmlGpmMetricsGet = metrics_get
    return nvml


def test_open_gpu_describes_the_gpu(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in())
    gpu = open_gpu(0)
    assert (gpu.name, gpu.uuid, gpu.driver, gpu.gpm_supported) == (
        "NVIDIA H100 80GB HBM3",
        "GPU-1234",
        "580.159",
        True,
    )
    assert gpu.memory_total_mb == pytest.approx(85520.809984)
    with pytest.raises(NvmlUnavailable, match="no GPU 3: NVML sees 1 GPU"):
        open_gpu(3)


def test_open_gpu_without_a_driver_is_unavailable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in(failing=("nvmlInit",)))
    with pytest.raises(NvmlUnavailable, match="NVML did not initialize"):
        open_gpu(0)


def test_a_sample_has_utilization_memory_our_processes_memory_and_sm_activity(
    monkeypatch: pytest.MonkeyPatch,
):
    nvml = _stand_in()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    source = NvmlGpuSource(open_gpu(0))
    first = source.sample(10.0, pids=(100, 101, 102))
    assert (first.gpu_util_pct, first.mem_util_pct, first.memory_used_mb) == (41.0, 15.0, 1790.0)
    assert first.process_memory_mb == 1310.0  # the server and its stub, not the other process
    assert first.sm_activity_pct is None  # GPM needs two samples GPM_INTERVAL_S apart
    assert source.sample(10.0 + GPM_INTERVAL_S / 2, pids=()).sm_activity_pct is None
    later = source.sample(10.0 + GPM_INTERVAL_S, pids=(555,))
    assert later.sm_activity_pct == pytest.approx(31.7) and later.process_memory_mb is None
    source.close()
    assert nvml.calls.count("nvmlGpmSampleFree") == 2


def test_failing_readings_become_missing_values_not_errors(monkeypatch: pytest.MonkeyPatch):
    failing = ("nvmlDeviceGetUtilizationRates", "nvmlDeviceGetComputeRunningProcesses", "nvmlGpmSampleAlloc")
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in(failing=failing))
    source = NvmlGpuSource(open_gpu(0))  # GPM refused (e.g. a container): no SM activity
    sample = source.sample(0.0, pids=(100,))
    assert sample.gpu_util_pct is None and sample.process_memory_mb is None
    assert sample.memory_used_mb == 1790.0 and sample.sm_activity_pct is None


def test_device_memory_leaves_out_the_drivers_reserved_memory_where_nvml_v2_is_there(
    monkeypatch: pytest.MonkeyPatch,
):
    nvml = _stand_in(memory_v2=True)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    gpu = open_gpu(0)
    assert gpu.reserved_memory_mb == 645.0
    sample = NvmlGpuSource(gpu).sample(0.0, pids=())
    assert sample.memory_used_mb == 1790.0  # what nvidia-smi shows, not 2435
    assert "nvmlDeviceGetMemoryInfo" not in nvml.calls  # never the v1 call


def test_device_memory_falls_back_to_v1_when_the_driver_lacks_the_v2_call(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(
        sys.modules, "pynvml", _stand_in(memory_v2=True, failing=("nvmlDeviceGetMemoryInfo_v2",))
    )
    gpu = open_gpu(0)
    assert gpu.reserved_memory_mb is None  # unknown: the reserved memory is inside "used"
    assert NvmlGpuSource(gpu).sample(0.0, pids=()).memory_used_mb == 2435.0


def test_a_mig_device_is_opened_by_uuid_and_reads_memory_but_no_utilization(monkeypatch: pytest.MonkeyPatch):
    uuid = "MIG-aaaaaaaa-0000-0000-0000-000000000000"
    # As NVML answers on a MIG device: the UUID's handle, memory, utilization NOT_SUPPORTED.
    nvml = _stand_in(failing=("nvmlDeviceGetUtilizationRates",))

    def by_uuid(asked: str) -> str:
        if asked != uuid:
            raise _Error(f"not found: {asked}")
        return f"handle-{asked}"

    nvml.nvmlDeviceGetHandleByUUID = by_uuid
    nvml.nvmlDeviceGetUUID = lambda handle: uuid
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    gpu = open_gpu(uuid)
    assert (gpu.index, gpu.uuid, gpu.mig, gpu.gpm_supported) == (uuid, uuid, True, False)
    sample = NvmlGpuSource(gpu).sample(1.0, pids=(100,))
    assert (sample.gpu_util_pct, sample.mem_util_pct, sample.memory_used_mb) == (None, None, 1790.0)
    assert "nvmlGpmQueryDeviceSupport" not in nvml.calls
    with pytest.raises(NvmlUnavailable, match="no MIG device MIG-bbbbbbbb"):
        open_gpu("MIG-bbbbbbbb-0000-0000-0000-000000000000")
