"""The profile: what `gpupack profile` writes and `gpupack plan` reads.

A profile is a directory of three files:

* ``profile.csv``: one row per model and measured point (batch size, concurrency, instance count),
  columns in ``POINT_COLUMNS`` below. The seed blog's Table 2 is such a file with fewer columns.
* ``server-only.csv``: one row, the server running with no model loaded (the blog's Table 1),
  columns in ``SERVER_COLUMNS``.
* ``metadata.json``: the GPU (name, total memory, driver), Triton version, date, load generator.

Only ``profile.csv`` is required; a missing server row means a 0 MB server, missing metadata means
an unknown GPU. Units: MB are 10^6 bytes, percentages are 0-100 per GPU, throughput is infer/s.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

PROFILE_CSV = "profile.csv"
# A config search's scratch repository of variants, beside profile.csv (profiler/measure/search_run.py).
VARIANTS_DIR = "variants"
SERVER_CSV = "server-only.csv"
METADATA_JSON = "metadata.json"
SERVER_MODEL_NAME = "triton-server"

Device = Literal["gpu", "cpu", "unknown"]


@dataclass(frozen=True)
class Column:
    """One CSV column: its header, the dataclass field it fills, its type and its meaning."""

    name: str
    attr: str
    kind: type
    doc: str
    required: bool = False
    least: int = 1  # the smallest value of an int column


# Streaming (LLM) models only; written only when a point has them, so other profiles keep their header.
STREAMING_COLUMNS: tuple[Column, ...] = (
    *(
        Column(f"{name}_p{q}_ms", f"{name}_p{q}_ms", float, f"{what}, {q}th percentile, ms (streaming)")
        for name, what in (("ttft", "time to first token"), ("itl", "inter-token latency"))
        for q in (50, 90, 99)
    ),
    Column("tokens_per_s", "tokens_per_s", float, "output tokens per second, all requests (streaming)"),
    Column("input_tokens", "input_tokens", float, "mean input (prompt) tokens per request (streaming)"),
    Column("output_tokens", "output_tokens", float, "mean output tokens per request (streaming)"),
    Column("weights_mb", "weights_mb", float, "model memory after load, before traffic, MB (streaming)"),
    Column(
        "kv_mb_per_sequence",
        "kv_mb_per_sequence",
        float,
        "memory per sequence in flight (KV cache), MB, fitted over concurrencies (streaming)",
    ),
)
STREAMING_ATTRS = frozenset(c.attr for c in STREAMING_COLUMNS)

POINT_COLUMNS: tuple[Column, ...] = (
    Column("model", "model", str, "model name, as in the Triton model repository", True),
    Column("batch_size", "batch_size", int, "requests carry this many samples (1 = no batching)", True),
    Column("concurrency", "concurrency", int, "requests kept in flight by the load generator", True, 0),
    Column("instance_count", "instance_count", int, "model instances on the GPU (default 1)"),
    Column("throughput_infer_per_sec", "throughput", float, "inferences (samples) per second", True),
    Column("latency_p50_ms", "latency_p50_ms", float, "client latency, 50th percentile, ms"),
    Column("latency_p90_ms", "latency_p90_ms", float, "client latency, 90th percentile, ms"),
    Column("latency_p95_ms", "latency_p95_ms", float, "client latency, 95th percentile, ms"),
    Column("latency_p99_ms", "latency_p99_ms", float, "client latency, 99th percentile, ms"),
    Column("max_gpu_utilization_pct", "gpu_util_pct", float, "max NVML utilization.gpu, %"),
    Column("max_memory_utilization_pct", "mem_util_pct", float, "max NVML utilization.memory, %"),
    Column("max_sm_activity_pct", "sm_activity_pct", float, "max GPM SM activity, % (Hopper and later)"),
    Column("max_gpu_memory_mb", "memory_mb", float, "max GPU memory used, MB, server included"),
    Column(
        "max_process_gpu_memory_mb",
        "process_memory_mb",
        float,
        "max GPU memory of the server and model processes alone (NVML per process), MB",
    ),
    Column("max_host_memory_mb", "host_memory_mb", float, "max resident memory of server + model, MB"),
    Column("max_server_cpu_pct", "server_cpu_pct", float, "max CPU use of server + model, % of one core"),
    Column("stable", "stable", bool, "true if 3 consecutive windows agreed on throughput"),
    Column("selected", "selected", bool, "true marks the point `plan` uses by default"),
    Column("error", "error", str, "why the point has no measurement (load failure, OOM, ...)"),
    Column("variant", "variant", str, "model config variant measured (Model Analyzer's config name)"),
    Column("request_rate", "request_rate", float, "open-loop load, requests/s (concurrency then 0)"),
    # A config search's variant (profiler/measure/variants.py); empty for the repository's own config.
    Column("dynamic_batching", "dynamic_batching", bool, "the variant's dynamic batcher is on"),
    Column(
        "max_queue_delay_us",
        "max_queue_delay_us",
        int,
        "the variant's dynamic batcher waits this long for a fuller call, microseconds",
        least=0,
    ),
    Column("max_batch_size", "max_batch_size", int, "the variant's max_batch_size (samples per call)"),
    *STREAMING_COLUMNS,
)

SERVER_COLUMNS: tuple[Column, ...] = tuple(
    c
    for c in POINT_COLUMNS
    if c.attr
    in (
        "gpu_util_pct",
        "mem_util_pct",
        "sm_activity_pct",
        "memory_mb",
        "process_memory_mb",
        "host_memory_mb",
        "server_cpu_pct",
    )
)


# Triton's max_batch_size and instance counts are int32: no count in a profile exceeds it.
MAX_COUNT = 2**31 - 1
# Linux's NAME_MAX: a model is a directory of the model repository.
MAX_MODEL_NAME_BYTES = 255
# The largest value each measure can take; a larger one (or inf, or NaN) means a corrupt file, not a
# fast model. Utilizations are % of one GPU; CPU is % of one core (10^6: ten thousand cores); memory
# in MB (10^9: a petabyte); latency in ms (10^9: eleven days); throughput 10^12 infer/s.
LIMITS: dict[str, float] = {
    "throughput": 1e12,
    "latency_p50_ms": 1e9,
    "latency_p90_ms": 1e9,
    "latency_p95_ms": 1e9,
    "latency_p99_ms": 1e9,
    "gpu_util_pct": 100.0,
    "mem_util_pct": 100.0,
    "sm_activity_pct": 100.0,
    "memory_mb": 1e9,
    "process_memory_mb": 1e9,
    "host_memory_mb": 1e9,
    "server_cpu_pct": 1e6,
    "request_rate": 1e12,  # requests per second of an open-loop load (Model Analyzer's request rate)
    **{f"{n}_p{q}_ms": 1e9 for n in ("ttft", "itl") for q in (50, 90, 99)},
    "tokens_per_s": 1e12,
    "input_tokens": 1e9,  # tokens per request: a billion is no context window
    "output_tokens": 1e9,
    "weights_mb": 1e9,
    "kv_mb_per_sequence": 1e9,
}


def _check_measures(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not (math.isfinite(value) and 0 <= value <= LIMITS[name]):
            raise ValueError(f"{name} must be a number within 0-{LIMITS[name]:g}, got {value}")


# ASCII control characters (C0 and DEL): never in a model's name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def model_name_problem(name: object) -> str | None:
    """Why ``name`` can't be a model's name (empty, too long, a control character), else None."""
    if not isinstance(name, str) or not name:
        return "model name is empty"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_MODEL_NAME_BYTES:
        return f"model name {name[:40]!r}... is longer than {MAX_MODEL_NAME_BYTES} bytes"
    if _CONTROL.search(name):
        return f"model name {name!r} contains a control character (a newline, a tab, ...)"
    return None


_MEASURES = (
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "gpu_util_pct",
    "mem_util_pct",
    "sm_activity_pct",
    "memory_mb",
    "host_memory_mb",
    "server_cpu_pct",
    "process_memory_mb",
    "request_rate",
    *sorted(STREAMING_ATTRS),
)


@dataclass(frozen=True)
class ProfilePoint:
    """One model measured at one (batch size, concurrency, instance count) point.

    ``memory_mb`` includes the server, as Model Analyzer reports it. ``None`` means not measured.
    A point with an ``error`` has no throughput and is never planned. ``variant`` names the model
    configuration measured (instance group, max batch size, dynamic batching), when a model was
    measured in several (Model Analyzer's config variants); ``""`` for the repository's own.
    ``request_rate`` is set for open-loop load (requests/s), and ``concurrency`` is then 0.
    ``dynamic_batching``, ``max_queue_delay_us`` and ``max_batch_size`` describe a config search's
    variant (with ``instance_count``); None when not recorded (a model that does not batch has no
    ``max_batch_size``), and a queue delay only with the dynamic batcher on.
    A streaming (decoupled, LLM) model's point also has token timings (``ttft_*``, ``itl_*``),
    ``tokens_per_s``, and its memory model: ``weights_mb`` and ``kv_mb_per_sequence`` (the same in
    every point of the model), throughput then counting requests.
    """

    model: str
    batch_size: int
    concurrency: int
    instance_count: int = 1
    throughput: float | None = None
    latency_p50_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    gpu_util_pct: float | None = None
    mem_util_pct: float | None = None
    sm_activity_pct: float | None = None
    memory_mb: float | None = None
    host_memory_mb: float | None = None
    server_cpu_pct: float | None = None
    stable: bool = True
    selected: bool = False
    error: str = ""
    process_memory_mb: float | None = None
    variant: str = ""
    request_rate: float | None = None
    dynamic_batching: bool | None = None
    max_queue_delay_us: int | None = None
    max_batch_size: int | None = None
    # Streaming (LLM) models only: token timings, token throughput, mean lengths, memory model.
    ttft_p50_ms: float | None = None
    ttft_p90_ms: float | None = None
    ttft_p99_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p90_ms: float | None = None
    itl_p99_ms: float | None = None
    tokens_per_s: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    weights_mb: float | None = None
    kv_mb_per_sequence: float | None = None

    def __post_init__(self) -> None:
        problem = model_name_problem(self.model)
        if problem:
            raise ValueError(problem)
        for name in ("batch_size", "concurrency", "instance_count"):
            value = getattr(self, name)
            # Open-loop load (a request rate) keeps no fixed number of requests in flight.
            least = 0 if name == "concurrency" and self.request_rate is not None else 1
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_COUNT:
                raise ValueError(f"{name!r} must be a whole number within {least}-{MAX_COUNT}, got {value}")
        _check_measures(self, ("throughput", *_MEASURES))
        self._check_variant()
        if not self.error and self.throughput is None:
            raise ValueError("throughput_infer_per_sec is empty and no error is given")

    def _check_variant(self) -> None:
        if self.dynamic_batching is not None and not isinstance(self.dynamic_batching, bool):
            raise ValueError(f"dynamic_batching must be true or false, got {self.dynamic_batching!r}")
        for name, least in (("max_queue_delay_us", 0), ("max_batch_size", 1)):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_COUNT
            ):
                raise ValueError(f"{name!r} must be a whole number within {least}-{MAX_COUNT}, got {value}")
        if self.max_queue_delay_us is not None and self.dynamic_batching is not True:
            raise ValueError("'max_queue_delay_us' is set but 'dynamic_batching' is not true")

    @property
    def key(self) -> tuple[str, int, int, int, str, float | None]:
        """Identity of the point within a profile (the variant and request rate last)."""
        return (
            self.model,
            self.batch_size,
            self.concurrency,
            self.instance_count,
            self.variant,
            self.request_rate,
        )

    @property
    def ok(self) -> bool:
        """True when the point was measured (no error)."""
        return not self.error


@dataclass(frozen=True)
class ServerBaseline:
    """The server alone, no model loaded (the blog's Table 1). Its utilizations are usually ~0."""

    gpu_util_pct: float | None = None
    mem_util_pct: float | None = None
    sm_activity_pct: float | None = None
    memory_mb: float | None = None
    host_memory_mb: float | None = None
    server_cpu_pct: float | None = None
    process_memory_mb: float | None = None

    def __post_init__(self) -> None:
        _check_measures(self, tuple(f.name for f in dataclasses.fields(self)))


# The metadata given in MB, with the value each must exceed (the GPU's memory is positive; the driver
# may reserve none).
_METADATA_MB = {"gpu_memory_mb": 0.0, "gpu_reserved_memory_mb": -1e-9}


@dataclass(frozen=True)
class ProfileMetadata:
    """Where and how a profile was measured."""

    device: Device = "unknown"
    gpu_name: str = ""
    gpu_memory_mb: float | None = None
    driver: str = ""
    triton_version: str = ""
    date: str = ""
    load_generator: str = ""
    notes: str = ""
    gpu_reserved_memory_mb: float | None = None  # the driver's own, not in max_gpu_memory_mb (NVML v2)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name not in _METADATA_MB and not isinstance(value, str):
                raise ValueError(f"{f.name} must be a string, got {value!r}")
        if self.device not in ("gpu", "cpu", "unknown"):
            raise ValueError(f"device must be gpu, cpu or unknown, got {self.device!r}")
        for name, least in _METADATA_MB.items():
            memory = getattr(self, name)
            if memory is None:
                continue
            if isinstance(memory, bool) or not isinstance(memory, (int, float)):
                raise ValueError(f"{name} must be a number of MB, got {memory!r}")
            if not (math.isfinite(memory) and least < memory <= LIMITS["memory_mb"]):
                bounds = f"{max(least, 0.0):g}-{LIMITS['memory_mb']:g}"
                raise ValueError(f"{name} must be a number of MB within {bounds}, got {memory}")


@dataclass(frozen=True)
class Colocation:
    """Several models measured together on one GPU (Model Analyzer's concurrent profiling).

    ``points`` holds each model's own load and results (batch, concurrency, variant, throughput,
    latencies); the GPU's memory (server included) and utilization are the run's, all models
    together, so they are not any one model's and are never planned as one model's point.
    """

    points: tuple[ProfilePoint, ...]
    memory_mb: float | None = None
    gpu_util_pct: float | None = None
    mem_util_pct: float | None = None

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise ValueError("a co-location measurement holds at least two models")
        _check_measures(self, ("memory_mb", "gpu_util_pct", "mem_util_pct"))

    @property
    def models(self) -> tuple[str, ...]:
        """The models measured together, in measurement order."""
        return tuple(p.model for p in self.points)


@dataclass(frozen=True)
class Profile:
    """All points of a profile, the server baseline and the metadata; ``source`` names the file.

    Read from other tools, a profile may also hold ``colocations`` (models measured together, kept
    apart from the single-model ``points``), ``variant_configs`` ((model, variant) → the variant's
    model configuration as protobuf JSON, to deploy the variant chosen) and ``notes`` (what the
    reader had to assume or leave out, said once to the user).
    """

    points: tuple[ProfilePoint, ...]
    server: ServerBaseline = field(default_factory=ServerBaseline)
    metadata: ProfileMetadata = field(default_factory=ProfileMetadata)
    source: str = ""
    colocations: tuple[Colocation, ...] = ()
    variant_configs: Mapping[tuple[str, str], Mapping[str, object]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @functools.cached_property
    def _by_model(self) -> dict[str, tuple[ProfilePoint, ...]]:
        """Model → its points in file order; built once, on first use (a fleet asks per model)."""
        index: dict[str, list[ProfilePoint]] = {}
        for p in self.points:
            index.setdefault(p.model, []).append(p)
        return {model: tuple(points) for model, points in index.items()}

    def models(self) -> tuple[str, ...]:
        """Model names in first-seen order."""
        return tuple(self._by_model)

    def points_for(self, model: str) -> tuple[ProfilePoint, ...]:
        """The points of one model, in file order."""
        return self._by_model.get(model, ())
