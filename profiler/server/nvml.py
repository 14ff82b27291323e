"""GPU readings through NVML (nvidia-ml-py): utilization, memory, per-process memory, GPM SM activity.

``utilization.gpu`` is "a kernel was running" during NVML's last sample period, not how much of the GPU
was busy; on Hopper and later, GPM's SM utilization is the closer measure of the share a model takes
(../shared/gpu-host/README.md), so it is recorded as well where the GPU supports it.

Device memory is read with ``nvmlDeviceGetMemoryInfo(h, version=nvmlMemory_v2)`` where the driver and
nvidia-ml-py have it: its ``used`` leaves out the memory the driver reserves for itself (~615 MiB on
an idle H200), as ``nvidia-smi``'s memory.used does, and that reserved amount is read once
(``GpuInfo.reserved_memory_mb``, the profile's ``gpu_reserved_memory_mb``). The v1 call counts the
reserved memory as used on every sample; it is the fallback on older drivers.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from profiler.base.errors import InputError

_MB = 1e6
# GPM metrics are rates between two samples; NVIDIA's examples and our H100 check take them 1 s apart.
GPM_INTERVAL_S = 1.0


# A MIG device's UUID as nvidia-smi -L prints it: ``MIG-<uuid>`` (R470 and later drivers) or the
# older ``MIG-GPU-<gpu uuid>/<gpu instance>/<compute instance>``. CUDA_VISIBLE_DEVICES accepts both.
MIG_UUID = re.compile(
    r"MIG-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|MIG-GPU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/\d+/\d+"
)


def parse_gpu(text: str) -> int | str:
    """A ``--gpu`` value: an NVML index (``0``) or a MIG device UUID (``MIG-…``, kept as given).

    Raises:
        InputError: neither.

    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    if MIG_UUID.fullmatch(text):
        return text
    raise InputError(
        f"--gpu {text!r}: expected a GPU's NVML index (0, 1, ...) or a MIG device UUID",
        "nvidia-smi -L lists both (a MIG device as 'MIG 1g.18gb Device 0: (UUID: MIG-...)')",
    )


class NvmlUnavailable(Exception):
    """NVML cannot be used here (no driver, no GPU, or no such GPU index); the message says which."""


class NoSuchGpu(NvmlUnavailable):
    """NVML works, but has no GPU with the index asked for."""


@dataclass(frozen=True)
class GpuInfo:
    """The GPU the server is given."""

    index: int | str  # NVML index, or the MIG device UUID asked for
    name: str
    uuid: str
    memory_total_mb: float
    driver: str
    gpm_supported: bool
    reserved_memory_mb: float | None = None  # None: the v1 call only (reserved counted as used)
    # A MIG instance: NVML reports its memory but no utilization (NOT_SUPPORTED per instance).
    mig: bool = False


# What NVML cannot read on a MIG instance, said in the profile's notes.
MIG_UNMEASURED = (
    "a MIG instance: NVML reports no GPU or memory-controller utilization per MIG instance (those "
    "columns stay empty) and no SM activity; memory is the instance's"
)


@dataclass(frozen=True)
class GpuSample:
    """One GPU reading. None means not available from this source."""

    t: float
    gpu_util_pct: float | None
    mem_util_pct: float | None
    memory_used_mb: float | None
    process_memory_mb: float | None = None
    sm_activity_pct: float | None = None


def _nvml() -> Any:
    try:
        import pynvml
    except ImportError as exc:  # nvidia-ml-py is a dependency, but the GPU host's Python may lack it
        raise NvmlUnavailable(f"nvidia-ml-py is not installed ({exc})") from None
    return pynvml


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class MemoryReading:
    """Device memory, MB: used (without the driver's reserved memory when ``reserved_mb`` is known)."""

    total_mb: float
    used_mb: float
    reserved_mb: float | None


def read_memory(nvml: Any, handle: object, v2: bool = True) -> MemoryReading:
    """Device memory through the v2 call where available (``v2``), else the v1 call.

    Raises:
        NVMLError: the v1 call failed too.

    """
    version = getattr(nvml, "nvmlMemory_v2", None)
    if v2 and version is not None:
        try:
            memory = nvml.nvmlDeviceGetMemoryInfo(handle, version=version)
            return MemoryReading(memory.total / _MB, memory.used / _MB, memory.reserved / _MB)
        except (nvml.NVMLError, TypeError, AttributeError):  # an older driver or nvidia-ml-py
            pass
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    return MemoryReading(memory.total / _MB, memory.used / _MB, None)


def _gpm_supported(nvml: Any, handle: object) -> bool:
    try:
        return bool(nvml.nvmlGpmQueryDeviceSupport(handle).isSupportedDevice)
    except (nvml.NVMLError, AttributeError):
        return False


def _handle(nvml: Any, index: int | str) -> object:
    """The NVML handle of GPU ``index``, or of the MIG device whose UUID ``index`` is."""
    if isinstance(index, str):
        try:
            return nvml.nvmlDeviceGetHandleByUUID(index)
        except nvml.NVMLError as exc:
            raise NoSuchGpu(f"no MIG device {index} ({exc})") from None
    count = nvml.nvmlDeviceGetCount()
    if not 0 <= index < count:
        raise NoSuchGpu(f"no GPU {index}: NVML sees {count} GPU(s)")
    return nvml.nvmlDeviceGetHandleByIndex(index)


def open_gpu(index: int | str) -> GpuInfo:
    """Initialize NVML and describe GPU ``index`` (NVML's order, as nvidia-smi shows) or a MIG device.

    ``index`` may be a MIG device UUID (``MIG-...``): its memory is the instance's, and NVML reads no
    utilization on it (``GpuInfo.mig``, ``MIG_UNMEASURED``).

    The caller owns the NVML session: call ``close_nvml()`` when done.

    Raises:
        NvmlUnavailable: no NVML library or driver, or no GPU with that index.

    """
    nvml = _nvml()
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise NvmlUnavailable(f"NVML did not initialize ({exc})") from None
    try:
        handle = _handle(nvml, index)
        memory = read_memory(nvml, handle)
        return GpuInfo(
            index=index,
            name=_text(nvml.nvmlDeviceGetName(handle)),
            uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
            memory_total_mb=memory.total_mb,
            driver=_text(nvml.nvmlSystemGetDriverVersion()),
            gpm_supported=not isinstance(index, str) and _gpm_supported(nvml, handle),
            reserved_memory_mb=memory.reserved_mb,
            mig=isinstance(index, str),
        )
    except nvml.NVMLError as exc:
        nvml.nvmlShutdown()
        raise NvmlUnavailable(f"NVML could not read GPU {index} ({exc})") from None
    except NvmlUnavailable:
        nvml.nvmlShutdown()
        raise


def gpu_count() -> int:
    """How many GPUs NVML sees; 0 when NVML cannot be used here."""
    try:
        nvml = _nvml()
    except NvmlUnavailable:
        return 0
    try:
        nvml.nvmlInit()
    except nvml.NVMLError:
        return 0
    try:
        return int(nvml.nvmlDeviceGetCount())
    except nvml.NVMLError:
        return 0
    finally:
        nvml.nvmlShutdown()


def close_nvml() -> None:
    """End the NVML session ``open_gpu`` started."""
    nvml = _nvml()
    try:
        nvml.nvmlShutdown()
    except nvml.NVMLError:
        pass


class NvmlGpuSource:
    """Reads one GPU each time ``sample`` is called; call from one thread at a time."""

    def __init__(self, gpu: GpuInfo) -> None:
        self._nvml = _nvml()
        nvml = self._nvml
        self._handle = (
            nvml.nvmlDeviceGetHandleByUUID(gpu.uuid)
            if gpu.mig
            else nvml.nvmlDeviceGetHandleByIndex(gpu.index)
        )
        self._v2 = gpu.reserved_memory_mb is not None  # open_gpu found the v2 call working
        self._gpm: _GpmReader | None = None
        if gpu.gpm_supported:
            try:
                self._gpm = _GpmReader(self._nvml, self._handle)
            except self._nvml.NVMLError:  # e.g. no permission in a container: no SM activity then
                self._gpm = None

    def sample(self, t: float, pids: Collection[int]) -> GpuSample:
        """Utilization, device memory used, GPU memory of ``pids`` and the latest SM activity."""
        nvml = self._nvml
        try:
            rates = nvml.nvmlDeviceGetUtilizationRates(self._handle)
            gpu_util, mem_util = float(rates.gpu), float(rates.memory)
        except nvml.NVMLError:
            gpu_util = mem_util = None
        try:
            used: float | None = read_memory(nvml, self._handle, self._v2).used_mb
        except nvml.NVMLError:
            used = None
        return GpuSample(
            t=t,
            gpu_util_pct=gpu_util,
            mem_util_pct=mem_util,
            memory_used_mb=used,
            process_memory_mb=self._process_memory(pids),
            sm_activity_pct=self._gpm.read(t) if self._gpm else None,
        )

    def _process_memory(self, pids: Collection[int]) -> float | None:
        """GPU memory of the listed processes; None when NVML lists none of them.

        In a container NVML may report host pids that match none of ours: then nothing is known.
        """
        try:
            processes = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except self._nvml.NVMLError:
            return None
        ours = [p.usedGpuMemory for p in processes if p.pid in pids and p.usedGpuMemory is not None]
        return sum(ours) / _MB if ours else None

    def close(self) -> None:
        """Free the GPM samples."""
        if self._gpm:
            self._gpm.close()


class _GpmReader:
    """SM utilization from two GPM samples ``GPM_INTERVAL_S`` apart; keeps the latest value between."""

    def __init__(self, nvml: Any, handle: object) -> None:
        self._nvml = nvml
        self._handle = handle
        self._previous = nvml.nvmlGpmSampleAlloc()
        self._current = nvml.nvmlGpmSampleAlloc()
        nvml.nvmlGpmSampleGet(handle, self._previous)
        self._previous_t: float | None = None
        self._value: float | None = None

    def read(self, t: float) -> float | None:
        nvml = self._nvml
        if self._previous_t is None:
            self._previous_t = t
            return None
        if t - self._previous_t < GPM_INTERVAL_S:
            return self._value
        try:
            nvml.nvmlGpmSampleGet(self._handle, self._current)
            request = nvml.c_nvmlGpmMetricsGet_t()
            request.version = nvml.NVML_GPM_METRICS_GET_VERSION
            request.numMetrics = 1
            request.sample1 = self._previous
            request.sample2 = self._current
            request.metrics[0].metricId = nvml.NVML_GPM_METRIC_SM_UTIL
            nvml.nvmlGpmMetricsGet(request)
            metric = request.metrics[0]
            self._value = float(metric.value) if metric.nvmlReturn == nvml.NVML_SUCCESS else None
        except nvml.NVMLError:
            self._value = None
        self._previous, self._current = self._current, self._previous
        self._previous_t = t
        return self._value

    def close(self) -> None:
        for sample in (self._previous, self._current):
            try:
                self._nvml.nvmlGpmSampleFree(sample)
            except self._nvml.NVMLError:
                pass
