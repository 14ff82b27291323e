"""What ``gpupack validate`` is asked, and what it found: per model and per GPU, promised against measured.

A model **falls short** (``validation_file.falls_short``) when it failed (load, warm-up or requests)
or its measured throughput is below ``min_ratio`` × the throughput the plan promised for it (a
streaming model: its requests/s or its output tokens/s; its TTFT and ITL are reported beside). A GPU
falls short when its server did not start, when any of its models falls short, or when its total
measured throughput is below ``min_ratio`` × its total promise. A plan **holds** when no GPU falls
short. Memory is reported against the plan (peak device memory, server included, over the whole run
from the models' load on, warm-up and first requests included) but does not decide the verdict: the
plan's memory comes from a profile measured the same way, and a GPU that truly runs out of memory
fails its requests (``oom``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from profiler.base.errors import InputError
from profiler.base.validation_file import DEFAULT_MIN_RATIO, falls_short, throughput_ratio
from profiler.measure.loadgen import MeasureSettings
from profiler.measure.request import LoadGenerator
from profiler.measure.sampler import DEFAULT_INTERVAL_S, ResourceUse
from profiler.server.serving import SERVE_START_TIMEOUT_S

_OOM_MARKERS = ("out of memory", "outofmemory", "cuda_error_out_of_memory")


def is_oom(message: str) -> bool:
    """True when an error message says the GPU ran out of memory (PyTorch, CUDA or Triton wording)."""
    text = message.lower().replace(" ", "")
    return any(marker.replace(" ", "") in text for marker in _OOM_MARKERS)


@dataclass(frozen=True)
class StreamingCheck:
    """A streaming model's token figures: what the plan's point promised, what was measured."""

    promised_tokens_per_s: float
    promised_ttft_p99_ms: float | None = None
    promised_itl_p99_ms: float | None = None
    measured_tokens_per_s: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p99_ms: float | None = None

    @property
    def tokens_ratio(self) -> float | None:
        """Measured / promised output tokens/s."""
        return throughput_ratio(self.measured_tokens_per_s, self.promised_tokens_per_s)


@dataclass(frozen=True)
class ModelCheck:
    """One model on one GPU: the plan's point and promise, and what was measured there."""

    name: str
    batch_size: int
    concurrency: int
    promised_throughput: float
    measured_throughput: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    stable: bool = False
    failed_requests: int = 0
    error: str = ""
    # A streaming (LLM) model: tokens/s and TTFT/ITL p99, promised (the plan's point) and measured.
    tokens: StreamingCheck | None = None
    request_rate: float | None = None  # an open-loop point's Poisson arrivals per second

    @property
    def ratio(self) -> float | None:
        """Measured / promised throughput (0 when it failed)."""
        return throughput_ratio(self.measured_throughput, self.promised_throughput)

    def short(self, min_ratio: float) -> bool:
        """True when it failed or delivered less than ``min_ratio`` of its promise (``falls_short``).

        A streaming model's requests/s and its output tokens/s must both hold.
        """
        failed = bool(self.error)
        if self.tokens is not None:
            failed = failed or falls_short(
                self.tokens.measured_tokens_per_s, self.tokens.promised_tokens_per_s, min_ratio, failed
            )
        return falls_short(self.measured_throughput, self.promised_throughput, min_ratio, failed)


@dataclass(frozen=True)
class GpuCheck:
    """One planned GPU, its server and its models; ``use`` holds the GPU's and the server's maxima."""

    index: int
    device: str  # what the server saw: CUDA_VISIBLE_DEVICES (a GPU's UUID or index)
    planned_memory_mb: float | None
    models: tuple[ModelCheck, ...]
    use: ResourceUse = field(default_factory=ResourceUse)
    reserved_memory_mb: float | None = None
    error: str = ""  # the server did not start (e.g. a model failed to load)
    planned_gpu_util_pct: float | None = None  # the plan's summed GPU utilization, server included

    @property
    def promised_throughput(self) -> float:
        """The sum of its models' promises, infer/s."""
        return sum(m.promised_throughput for m in self.models)

    @property
    def measured_throughput(self) -> float:
        """The sum of its models' measured throughputs, infer/s (failed models count 0)."""
        return sum(m.measured_throughput or 0.0 for m in self.models)

    @property
    def ratio(self) -> float | None:
        """Measured / promised, summed over its models."""
        return throughput_ratio(self.measured_throughput, self.promised_throughput)

    @property
    def load_failure(self) -> bool:
        """True when its server did not start: every model loads at start, so mostly a model's failure."""
        return bool(self.error)

    @property
    def oom(self) -> bool:
        """True when the server or a model reported running out of GPU memory."""
        return is_oom(self.error) or any(is_oom(m.error) for m in self.models)

    @property
    def memory_ratio(self) -> float | None:
        """Peak device memory / planned memory (both server included)."""
        if self.use.memory_mb is None or not self.planned_memory_mb:
            return None
        return self.use.memory_mb / self.planned_memory_mb

    def short(self, min_ratio: float) -> bool:
        """True when the server failed, a model fell short, or the GPU's total did."""
        failed = bool(self.error) or any(m.short(min_ratio) for m in self.models)
        return falls_short(self.measured_throughput, self.promised_throughput, min_ratio, failed)


@dataclass(frozen=True)
class ValidationResult:
    """The whole validation: every GPU checked (so far, if interrupted), and how it was run."""

    directory: str
    min_ratio: float
    gpus: tuple[GpuCheck, ...]
    mode: str  # "all at once" or "one at a time on GPU N"
    device: str  # gpu or cpu
    gpu_name: str = ""
    load_generator: str = ""
    elapsed_s: float = 0.0
    stopped_exit_code: int | None = None  # a signal stopped it: 130, 143 or 129
    notes: tuple[str, ...] = ()

    @property
    def interrupted(self) -> bool:
        """True when a signal stopped the validation before every GPU was checked."""
        return self.stopped_exit_code is not None

    @property
    def short_gpus(self) -> tuple[int, ...]:
        """Indices of the GPUs that fall short."""
        return tuple(g.index for g in self.gpus if g.short(self.min_ratio))

    @property
    def holds(self) -> bool:
        """True when every GPU checked holds its plan."""
        return not self.short_gpus and bool(self.gpus)


@dataclass(frozen=True)
class ValidateRequest:
    """Everything ``gpupack validate`` was asked."""

    directory: Path
    gpu: int = 0
    min_ratio: float = DEFAULT_MIN_RATIO
    all_at_once: bool | None = None  # None: when the host has as many GPUs as the plan
    load_generator: LoadGenerator = "builtin"
    perf_analyzer: Path | None = None
    triton_server: Path | None = None
    backend_python: Path | None = None
    backend_directory: Path | None = None
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    sample_interval_s: float = DEFAULT_INTERVAL_S
    start_timeout_s: float = SERVE_START_TIMEOUT_S

    def __post_init__(self) -> None:
        if not 0 < self.min_ratio <= 10:
            raise InputError(f"--min-ratio must be within (0, 10], got {self.min_ratio}")
        if not self.sample_interval_s > 0:
            raise InputError("--sample-interval must be positive")


@dataclass(frozen=True)
class ValidationProgress:
    """A GPU, or a group of GPUs validated at once, is done."""

    done: int
    total: int
    gpus: tuple[GpuCheck, ...]
    elapsed_s: float
    eta_s: float | None


class ValidationReporter(Protocol):
    """Where the validation tells how it goes (the CLI prints to stderr)."""

    def progress(self, event: ValidationProgress) -> None:
        """A GPU (or group) is done."""

    def notice(self, message: str) -> None:
        """Something the user should know, said once."""
