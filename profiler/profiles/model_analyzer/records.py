"""Model Analyzer 1.x measurements, format-neutral, and how they become a gpupack ``Profile``.

Both readers (the CSV export, the checkpoint) produce ``Measurement`` records: one perf_analyzer
run of one or more models loaded together, each model with its load (batch size, concurrency or
request rate) and config variant, and the GPU's readings for the run. ``to_profile`` then makes:

* a single-model measurement a ``ProfilePoint`` of its model, keyed by its variant, so the variants
  (instance group, max batch size, dynamic batching) of one model are its candidate points;
* a multi-model measurement a ``Colocation`` (kept apart: the GPU's readings belong to all of the
  models, not to any one); models measured *only* together get one point per measurement for the
  group, named ``a+b``, so the pair can still be planned as a unit (said in a note).

A point also carries its variant's batching settings where the reader knows them (the checkpoint's
model config: dynamic batcher and its max queue delay, max_batch_size; the CSV export: max_batch_size),
as a point of gpupack's own config search does. What Model Analyzer 1.x does not measure
(memory-controller utilization) stays ``None``.

A CPU-only run (``cpu_only``, KIND_CPU instances) records no GPU memory; with ``collect_cpu_metrics``
it records RAM (``cpu_used_ram``: the most the tritonserver process held alone, its USS, over the
measurement). Such a profile is planned on host memory, as gpupack's own CPU profiles are
(``device`` ``cpu``, ``host_memory_mb``), and a note says so; without RAM it is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from profiler.base.errors import InputError
from profiler.profiles.schema import Colocation, Profile, ProfileMetadata, ProfilePoint, ServerBaseline

GROUP_SEPARATOR = "+"
LOAD_GENERATOR = "perf_analyzer (Model Analyzer 1.x)"
UTILIZATION_NOTE = (
    "{source}: GPU utilization is Model Analyzer's average over each measurement (gpupack's own "
    "profiles record the maximum)"
)
HOST_RAM_NOTE = (
    "{source}: a CPU-only run (no GPU memory recorded): memory is host RAM, Model Analyzer's cpu_used_ram "
    "(the tritonserver process alone, USS: not its child processes such as Python backend stubs; no "
    "server-alone reading, so each model's figure includes the server), planned as host memory"
)


@dataclass(frozen=True)
class ModelLoad:
    """One model's part of a measurement: its variant, load and results."""

    model: str
    variant: str
    batch_size: int
    concurrency: int | None
    request_rate: float | None
    instance_count: int
    throughput: float | None
    latency_p99_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p90_ms: float | None = None
    satisfies_constraints: bool | None = None
    dynamic_batching: bool | None = None
    max_queue_delay_us: int | None = None
    max_batch_size: int | None = None

    def point(
        self, memory_mb: float | None, gpu_util_pct: float | None, host_memory_mb: float | None = None
    ) -> ProfilePoint:
        """The load as a gpupack point with the run's readings (GPU, and host RAM if recorded)."""
        return ProfilePoint(
            model=self.model,
            batch_size=self.batch_size,
            concurrency=self.concurrency or 0,
            instance_count=self.instance_count,
            throughput=self.throughput,
            latency_p90_ms=self.latency_p90_ms,
            latency_p95_ms=self.latency_p95_ms,
            latency_p99_ms=self.latency_p99_ms,
            gpu_util_pct=gpu_util_pct,
            memory_mb=memory_mb,
            host_memory_mb=host_memory_mb,
            variant=self.variant,
            request_rate=self.request_rate,
            dynamic_batching=self.dynamic_batching,
            max_queue_delay_us=self.max_queue_delay_us,
            max_batch_size=self.max_batch_size,
            error="" if self.throughput is not None else "no throughput recorded by Model Analyzer",
        )


@dataclass(frozen=True)
class Measurement:
    """One perf_analyzer run: the models loaded together and the readings (server included).

    ``ram_mb`` is Model Analyzer's ``cpu_used_ram`` ("RAM Usage (MB)"), recorded with
    ``collect_cpu_metrics`` only.
    """

    loads: tuple[ModelLoad, ...]
    memory_mb: float | None
    gpu_util_pct: float | None
    ram_mb: float | None = None


def instance_count(groups: str) -> int:
    """Instances from Model Analyzer's instance-group text, e.g. ``2:GPU`` or ``1:CPU/2:GPU``."""
    total = 0
    for part in groups.split("/"):
        count, _, _ = part.strip().partition(":")
        total += int(float(count)) if count.strip() else 1
    return max(total, 1)


def _field(config: Mapping[str, object], snake: str, camel: str) -> object:
    """A protobuf JSON field in either naming: ``max_batch_size`` (older checkpoints), ``maxBatchSize``."""
    return config.get(snake, config.get(camel))


def config_instance_count(config: Mapping[str, object]) -> int:
    """Instances of a model config (protobuf JSON): the sum over its instance groups (default 1)."""
    groups = _field(config, "instance_group", "instanceGroup") or []
    return max(sum(int(g.get("count") or 1) for g in groups), 1)  # type: ignore[union-attr]


def config_batching(config: Mapping[str, object]) -> dict[str, object]:
    """A model config's batching settings as ``ModelLoad`` fields, as a config search's variant records them.

    The dynamic batcher on or off, its max queue delay (0 when unset: Triton's default) and
    ``max_batch_size`` (None for a model that does not batch).
    """
    batcher = _field(config, "dynamic_batching", "dynamicBatching")
    delay = None
    if isinstance(batcher, Mapping):
        delay = int(_field(batcher, "max_queue_delay_microseconds", "maxQueueDelayMicroseconds") or 0)
    max_batch = int(_field(config, "max_batch_size", "maxBatchSize") or 0)  # type: ignore[arg-type]
    return {
        "dynamic_batching": delay is not None,
        "max_queue_delay_us": delay,
        "max_batch_size": max_batch or None,
    }


def _group_point(measurement: Measurement) -> ProfilePoint:
    """A measurement of models run together, as one point of the group ``a+b``."""
    loads = measurement.loads
    throughputs = [load.throughput for load in loads]
    p99 = [load.latency_p99_ms for load in loads]
    return ProfilePoint(
        model=GROUP_SEPARATOR.join(load.model for load in loads),
        batch_size=max(load.batch_size for load in loads),
        # The requests in flight in all; an open-loop run keeps none fixed.
        concurrency=sum(load.concurrency or 0 for load in loads),
        instance_count=sum(load.instance_count for load in loads),
        throughput=None if None in throughputs else sum(throughputs),  # type: ignore[arg-type]
        latency_p99_ms=None if None in p99 else max(p99),  # type: ignore[type-var]
        gpu_util_pct=measurement.gpu_util_pct,
        memory_mb=measurement.memory_mb,
        host_memory_mb=measurement.ram_mb,
        variant=GROUP_SEPARATOR.join(load.variant for load in loads),
        request_rate=None
        if all(load.request_rate is None for load in loads)
        else sum(load.request_rate or 0.0 for load in loads),
        error="" if None not in throughputs else "no throughput recorded by Model Analyzer",
    )


def colocation_of(measurement: Measurement) -> Colocation:
    """A multi-model measurement as a ``Colocation`` (each model's own results, the GPU's together)."""
    return Colocation(
        points=tuple(load.point(None, None) for load in measurement.loads),
        memory_mb=measurement.memory_mb,
        gpu_util_pct=measurement.gpu_util_pct,
    )


def _colocation_notes(source: str, single: set[str], colocations: list[Colocation]) -> list[str]:
    notes = []
    groups: dict[tuple[str, ...], int] = {}
    for c in colocations:
        groups[c.models] = groups.get(c.models, 0) + 1
    for models, count in groups.items():
        names = " and ".join(models)
        if set(models) <= single:
            notes.append(
                f"{source}: {count} measurements of {names} loaded together are kept as co-location "
                "measurements, not single-model points (the GPU's readings belong to all of them)"
            )
        else:
            notes.append(
                f"{source}: {names} were measured only together ({count} co-location measurements): "
                f"planned as one unit {GROUP_SEPARATOR.join(models)!r} (the pair's GPU memory and "
                "utilization, throughputs summed), never split into single-model points"
            )
    return notes


def _memory_kind(measurements: list[Measurement], metadata: ProfileMetadata, source: str) -> tuple[str, ...]:
    """Notes on the memory a profile is planned on; ``InputError`` where it has none to plan on.

    A run that lists no GPU (``metadata.device`` ``cpu``) and records no GPU memory is planned on
    its RAM, which every measurement must then have. GPU memory for some measurements and only RAM
    for others (a CPU-only model or variant in a GPU run) is refused: gpupack plans one memory per
    profile.
    """
    gpu = sum(1 for m in measurements if m.memory_mb is not None)
    ram_only = [m for m in measurements if m.memory_mb is None and m.ram_mb is not None]
    if gpu and ram_only:
        model = ram_only[0].loads[0].model
        raise InputError(
            f"{source}: {gpu} measurements record GPU memory and {len(ram_only)} only host RAM (model "
            f"{model!r} first): a CPU-only run beside GPU ones; gpupack plans one kind of memory per profile",
            "profile the GPU and the CPU-only models in separate Model Analyzer runs and plan them apart",
        )
    if gpu or metadata.device != "cpu":
        return ()
    if len(ram_only) < len(measurements):
        raise InputError(
            f"{source}: a CPU-only Model Analyzer run (no GPU memory recorded) without RAM in "
            f"{len(measurements) - len(ram_only)} of {len(measurements)} measurements: no memory to plan on",
            "profile with collect_cpu_metrics: true (Model Analyzer then records cpu_used_ram; for the CSV "
            "export also list cpu_used_ram in inference_output_fields)",
        )
    return (HOST_RAM_NOTE.format(source=source),)


def to_profile(
    measurements: list[Measurement],
    server: ServerBaseline,
    metadata: ProfileMetadata,
    source: str,
    configs: Mapping[tuple[str, str], Mapping[str, object]] | None = None,
    notes: tuple[str, ...] = (),
) -> Profile:
    """The ``Profile`` of ``measurements`` (see the module docstring)."""
    host_ram = _memory_kind(measurements, metadata, source)
    singles = [m for m in measurements if len(m.loads) == 1]
    multis = [m for m in measurements if len(m.loads) > 1]
    points = [m.loads[0].point(m.memory_mb, m.gpu_util_pct, m.ram_mb) for m in singles]
    single_models = {p.model for p in points}
    colocations = [colocation_of(m) for m in multis]
    # Models with no single-model measurement can only be planned together, as measured.
    points += [_group_point(m) for m in multis if not {load.model for load in m.loads} <= single_models]
    unmet = sum(1 for m in measurements for load in m.loads if load.satisfies_constraints is False)
    # A CPU-only run has no GPU utilization to average.
    all_notes = [*host_ram] if host_ram else [UTILIZATION_NOTE.format(source=source)]
    all_notes += notes
    all_notes += _colocation_notes(source, single_models, colocations)
    if unmet:
        all_notes.append(
            f"{source}: {unmet} measured points did not satisfy Model Analyzer's constraints; "
            "they are candidates all the same (gpupack applies its own p99 bounds, --targets)"
        )
    return Profile(
        points=tuple(points),
        server=server,
        metadata=metadata,
        source=source,
        colocations=tuple(colocations),
        variant_configs=dict(configs or {}),
        notes=tuple(all_notes),
    )
