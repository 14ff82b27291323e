"""Config variants of a model, for the config search: how it is served, not only where.

A variant changes the server-side knobs of a model's ``config.pbtxt`` that decide its throughput per
GB: the instance count, the dynamic batcher (off, or on with a max queue delay and preferred batch
sizes) and ``max_batch_size``. The space is every combination of

* instance counts 1..``max_instances``,
* the dynamic batcher off, or on with each of ``queue_delays_us`` (none: never on) and the
  ``preferred_batch_sizes`` (none: Triton's default, the largest batch the queue allows),
* each of ``max_batch_sizes`` (none: the model's own),

and each variant is written under its own model name, ``<model>_config_<n>`` (as Model Analyzer
names its variants), into a scratch repository: never into the user's. The config is parsed with
``text_format.Parse`` into tritonclient's ``ModelConfig``, changed as a message and written with
``text_format.MessageToString``; the model's other files (in its version folders, weights) are
symlinked, not copied, from folders of the variant's own.

A model that does not batch (``max_batch_size: 0``) or has a sequence batcher or an ensemble
scheduler keeps its own scheduling: only its instance count is searched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from profiler.base.errors import InputError
from profiler.base.files import cannot_write, ensure_directory, read_text, write_atomic
from profiler.profiles.schema import MAX_COUNT, ProfilePoint

CONFIG_FILE = "config.pbtxt"
# Model Analyzer's own default (its --run-config-search-max-instance-count is 5; the issue asks 4).
DEFAULT_MAX_INSTANCES = 4
# Triton's unit for the batcher's wait; 0 sends whatever is queued at once.
DEFAULT_QUEUE_DELAYS_US = (0, 100, 1000)


@dataclass(frozen=True)
class VariantSpace:
    """The knobs a search tries; see the module docstring."""

    max_instances: int = DEFAULT_MAX_INSTANCES
    queue_delays_us: tuple[int, ...] = DEFAULT_QUEUE_DELAYS_US
    max_batch_sizes: tuple[int, ...] = ()
    preferred_batch_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not _counts_ok((self.max_instances,), 1):
            raise InputError(f"--max-instances must be a whole number within 1-{MAX_COUNT}")
        if len(set(self.queue_delays_us)) != len(self.queue_delays_us) or not _counts_ok(
            self.queue_delays_us, 0
        ):
            raise InputError("--queue-delays-us: distinct whole numbers of microseconds, 0 or more")
        for option, values in (
            ("--max-batch-sizes", self.max_batch_sizes),
            ("--preferred-batch-sizes", self.preferred_batch_sizes),
        ):
            if len(set(values)) != len(values) or not _counts_ok(values, 1):
                raise InputError(f"{option}: distinct whole numbers, 1 or more")


def _counts_ok(values: tuple[int, ...], least: int) -> bool:
    return all(not isinstance(v, bool) and isinstance(v, int) and least <= v <= MAX_COUNT for v in values)


@dataclass(frozen=True)
class Variant:
    """One way of serving a model.

    ``max_queue_delay_us`` only with the dynamic batcher on; ``max_batch_size`` None for a model that
    does not batch.
    """

    instance_count: int
    dynamic_batching: bool
    max_queue_delay_us: int | None
    max_batch_size: int | None
    name: str
    preferred_batch_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if (self.max_queue_delay_us is not None) != self.dynamic_batching:
            raise ValueError("a queue delay goes with the dynamic batcher on, and only then")
        if self.instance_count < 1:
            raise ValueError(f"instance count must be at least 1, got {self.instance_count}")

    @property
    def family(self) -> tuple[bool, int | None, int | None]:
        """Everything but the instance count: the variants a search adds instances to, one by one."""
        return (self.dynamic_batching, self.max_queue_delay_us, self.max_batch_size)

    @property
    def settings(self) -> tuple[int, bool, int | None, int | None]:
        """What the variant changes, without its name (a resumed profile is matched on this)."""
        return (self.instance_count, *self.family)

    def columns(self) -> dict[str, object]:
        """The profile columns (``ProfilePoint`` fields) that record this variant on a point."""
        return {
            "variant": self.name,
            "instance_count": self.instance_count,
            "dynamic_batching": self.dynamic_batching,
            "max_queue_delay_us": self.max_queue_delay_us,
            "max_batch_size": self.max_batch_size,
        }

    def describe(self) -> str:
        """``2 instances, dynamic batching (queue delay 100 us), max batch 4``."""
        text = f"{self.instance_count} instance{'s' if self.instance_count > 1 else ''}, "
        text += (
            f"dynamic batching (queue delay {self.max_queue_delay_us} us)"
            if self.dynamic_batching
            else "no dynamic batching"
        )
        return text + (f", max batch {self.max_batch_size}" if self.max_batch_size else "")


def recorded_variants(points: list[ProfilePoint]) -> tuple[Variant, ...]:
    """The variants recorded on ``points`` (the columns ``Variant.columns`` writes), first seen first."""
    found: dict[str, Variant] = {}
    for p in points:
        if p.variant not in found:
            found[p.variant] = Variant(
                p.instance_count, bool(p.dynamic_batching), p.max_queue_delay_us, p.max_batch_size, p.variant
            )
    return tuple(found.values())


def read_config(model_dir: Path) -> model_config_pb2.ModelConfig:
    """The model's ``config.pbtxt`` as a message.

    Raises:
        InputError: missing, unreadable or not a valid model configuration.

    """
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        raise InputError(
            f"{path}: no {CONFIG_FILE}; the config search writes variants of a model's configuration",
            "give the model a config.pbtxt",
        )
    config = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(read_text(path), config)
    except text_format.ParseError as exc:
        raise InputError(f"{path}: not a valid model configuration ({exc})") from None
    return config


def batching_searchable(config: model_config_pb2.ModelConfig) -> bool:
    """True when the dynamic batcher and max_batch_size may be changed (see the module docstring)."""
    return config.max_batch_size > 0 and config.WhichOneof("scheduling_choice") in (None, "dynamic_batching")


def generate_variants(
    model: str, config: model_config_pb2.ModelConfig, space: VariantSpace
) -> tuple[Variant, ...]:
    """Every variant of ``space`` for ``model``, named ``<model>_config_<n>`` in a stable order."""
    if batching_searchable(config):
        batch_sizes: tuple[int | None, ...] = space.max_batch_sizes or (config.max_batch_size,)
        batchers: list[tuple[bool, int | None]] = [(False, None)] + [(True, d) for d in space.queue_delays_us]
    else:
        batch_sizes, batchers = (None,), [(False, None)]
    variants = []
    for max_batch in batch_sizes:
        preferred = tuple(sorted(b for b in space.preferred_batch_sizes if max_batch and b <= max_batch))
        for dynamic, delay in batchers:
            for instances in range(1, space.max_instances + 1):
                name = f"{model}_config_{len(variants)}"
                variants.append(
                    Variant(instances, dynamic, delay, max_batch, name, preferred if dynamic else ())
                )
    return tuple(variants)


def variant_config(config: model_config_pb2.ModelConfig, variant: Variant) -> model_config_pb2.ModelConfig:
    """``config`` changed into ``variant`` (a new message; ``config`` is left as it is).

    The instance group keeps the first group's kind (and profile, host policy...) with the variant's
    count and no ``gpus`` list: the profiling server sees one GPU, where the count is the instances.
    """
    out = model_config_pb2.ModelConfig()
    out.CopyFrom(config)
    out.name = variant.name
    group = model_config_pb2.ModelInstanceGroup()
    if config.instance_group:
        group.CopyFrom(config.instance_group[0])
        del group.gpus[:]
    group.count = variant.instance_count
    del out.instance_group[:]
    out.instance_group.append(group)
    if variant.max_batch_size is not None:
        out.max_batch_size = variant.max_batch_size
    if variant.dynamic_batching:
        out.dynamic_batching.max_queue_delay_microseconds = variant.max_queue_delay_us or 0
        del out.dynamic_batching.preferred_batch_size[:]
        out.dynamic_batching.preferred_batch_size.extend(variant.preferred_batch_sizes)
    elif variant.max_batch_size is not None:
        out.ClearField("dynamic_batching")
    return out


def write_variants(
    model_dir: Path, repository: Path, config: model_config_pb2.ModelConfig, variants: tuple[Variant, ...]
) -> None:
    """Write each variant as ``repository/<variant name>``: its config, and links to the model's files.

    ``repository`` is the search's scratch repository; the caller keeps it out of the user's.

    Raises:
        OutputError: the scratch repository can't be written.

    """
    source = Path(os.path.realpath(model_dir))
    entries = [e for e in sorted(source.iterdir()) if e.name != CONFIG_FILE]
    for variant in variants:
        target = ensure_directory(repository / variant.name)
        header = f"# gpupack config search: {variant.describe()}; a variant of {source}\n"
        write_atomic(
            target / CONFIG_FILE, header + text_format.MessageToString(variant_config(config, variant))
        )
        _mirror(target, entries)


def _mirror(target: Path, entries: list[Path]) -> None:
    """Real folders for ``entries``' folders, links for their files.

    A linked version folder would make the Python backend write its ``__pycache__`` beside the
    user's model.py; in a folder of our own it lands in the scratch repository.
    """
    for entry in entries:
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            _mirror(ensure_directory(target / entry.name), sorted(entry.iterdir()))
        else:
            _link(target / entry.name, entry)


def _link(link: Path, to: Path) -> None:
    """``link`` → ``to``, replacing a link of an earlier run (a resumed search)."""
    try:
        if link.is_symlink():
            if os.readlink(link) == str(to):
                return
            link.unlink()
        link.symlink_to(to)
    except OSError as exc:
        raise cannot_write(link, exc) from None
