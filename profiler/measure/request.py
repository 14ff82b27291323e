"""What ``gpupack profile`` is asked (``ProfileRequest``) and what it answers (``ProfileResult``).

Also the profile's metadata for a run, and the rules for resuming an existing profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from profiler.base.errors import InputError
from profiler.measure.loadgen import MeasureSettings
from profiler.measure.metrics import GpuMetrics
from profiler.measure.sampler import DEFAULT_INTERVAL_S
from profiler.measure.stats import STABLE_WINDOWS
from profiler.measure.sweep import SweepOutcome
from profiler.profiles.profile_io import read_profile
from profiler.profiles.schema import PROFILE_CSV, Profile, ProfileMetadata, model_name_problem
from profiler.server.nvml import MIG_UNMEASURED, GpuInfo, parse_gpu

LoadGenerator = Literal["builtin", "perf_analyzer"]


@dataclass(frozen=True)
class ProfileRequest:
    """Everything ``gpupack profile`` was asked to do. Exactly one of repository and URL is given."""

    models: tuple[str, ...]
    batch_sizes: tuple[int, ...] = (1,)
    concurrencies: tuple[int, ...] = (1,)
    output: Path = Path("profile")
    model_repository: Path | None = None
    triton_url: str | None = None
    metrics_url: str | None = None
    triton_server: Path | None = None
    backend_python: Path | None = None
    backend_directory: Path | None = None
    gpu: int | str = 0  # an NVML index, or a MIG device UUID (``MIG-...``)
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    load_generator: LoadGenerator = "builtin"
    perf_analyzer: Path | None = None
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    sample_interval_s: float = DEFAULT_INTERVAL_S
    resume: bool = False
    reload_per_batch: bool = True
    request_rates: tuple[float, ...] = ()  # open-loop points (requests/s), besides the concurrencies

    def __post_init__(self) -> None:
        if (self.model_repository is None) == (self.triton_url is None):
            raise InputError(
                "give --model-repository (local mode: gpupack starts the server) "
                "or --triton-url (remote mode: a running server), not both or neither"
            )
        if self.triton_url is None and self.metrics_url is not None:
            raise InputError("--metrics-url is for remote mode (--triton-url)")
        if not self.models or not self.batch_sizes or not self.concurrencies:
            raise InputError("give at least one model, batch size and concurrency")
        if any(not (math.isfinite(r) and r > 0) for r in self.request_rates):
            raise InputError(f"--request-rate: positive requests/s, got {self.request_rates}")
        for model in self.models:
            problem = model_name_problem(model)
            if problem:
                raise InputError(f"--models: {problem}")
            if "/" in model or "\\" in model or model.startswith("."):
                raise InputError(f"--models: {model!r} is not a model name")
        if not self.sample_interval_s > 0:
            raise InputError("--sample-interval must be positive")
        if isinstance(self.gpu, str):
            object.__setattr__(self, "gpu", parse_gpu(self.gpu))  # "3" or "MIG-..." as typed

    @property
    def mode(self) -> Literal["local", "remote"]:
        """``local`` when gpupack starts the server, ``remote`` otherwise."""
        return "local" if self.model_repository is not None else "remote"


@dataclass(frozen=True)
class ProfileResult:
    """What a profile run did, for the CLI to print."""

    request: ProfileRequest
    outcome: SweepOutcome
    notices: tuple[str, ...]

    @property
    def profile(self) -> Profile | None:
        """The profile as written (None if nothing was measured)."""
        return self.outcome.profile

    def summary(self) -> str:
        """One line under the table."""
        o = self.outcome
        text = (
            f"{o.measured} points measured, {o.failed} failed, {o.skipped} already in the output, "
            f"in {o.elapsed_s:.0f} s; profile in {self.request.output}"
        )
        if o.interrupted:
            text += " (interrupted: rerun with --resume to finish)"
        if o.write_error is not None:
            text += f" (not written: the last {o.unsaved} point(s) above, which --resume will measure again)"
        return text


def existing_profile(request: ProfileRequest) -> Profile | None:
    """The profile already in ``--output``: refused without ``--resume``, None if there is none.

    Raises:
        InputError: a profile is there and ``--resume`` was not given, or it does not read.

    """
    if not (request.output / PROFILE_CSV).exists():
        return None
    if not request.resume:
        raise InputError(
            f"--output {request.output} already holds a profile",
            "pass --resume to finish it, or choose another --output",
        )
    return read_profile(request.output)


def check_resumable(existing: Profile | None, metadata: ProfileMetadata) -> None:
    """A resumed profile must come from the same kind of device, GPU and load generator.

    Raises:
        InputError: it does not.

    """
    if existing is None:
        return
    for name in ("device", "gpu_name", "load_generator"):
        old, new = getattr(existing.metadata, name), getattr(metadata, name)
        if old and old != new:
            raise InputError(
                f"--resume: the profile in {existing.source} was measured with {name} {old!r}, "
                f"this run has {new!r}",
                "resume on the same machine with the same load generator, or choose another --output",
            )


def _notes(request: ProfileRequest, gpu: GpuInfo | None) -> str:
    s = request.settings
    notes = [
        f"{request.mode} mode; windows of {s.window_s:g} s after a {s.warmup_s:g} s warm-up, stable when "
        f"{STABLE_WINDOWS} agree within ±{s.stability_pct:g} % (at most {s.max_windows} windows); "
        f"resources sampled every {request.sample_interval_s * 1000:.0f} ms, maxima over the last "
        f"{STABLE_WINDOWS} windows (memory: from just before the point's first request"
        + ("; each batch size from a fresh load of its model)" if request.reload_per_batch else ")")
    ]
    if gpu is not None and gpu.mig:
        notes.append(f"the server sees MIG device {gpu.uuid} only, {MIG_UNMEASURED}")
    elif gpu is not None:
        notes.append(f"the server sees GPU {gpu.index} ({gpu.uuid}) only")
    return "; ".join(notes)


def build_metadata(
    request: ProfileRequest,
    gpu: GpuInfo | None,
    remote_gpus: dict[str, GpuMetrics],
    triton_version: str,
    load_generator: str,
) -> ProfileMetadata:
    """Where and how this run measures: the local GPU (NVML), else the remote server's GPUs, else CPU."""
    device, name, memory, driver = "cpu", "", None, ""
    if gpu is not None:
        device, name, memory, driver = "gpu", gpu.name, gpu.memory_total_mb, gpu.driver
    elif remote_gpus:
        totals = [g.memory_total_mb for g in remote_gpus.values() if g.memory_total_mb]
        device, memory = "gpu", (max(totals) if totals else None)
    return ProfileMetadata(
        device=device,
        gpu_name=name,
        gpu_memory_mb=memory,
        driver=driver,
        triton_version=triton_version,
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        load_generator=load_generator,
        notes=_notes(request, gpu),
        gpu_reserved_memory_mb=gpu.reserved_memory_mb if gpu is not None else None,
    )
