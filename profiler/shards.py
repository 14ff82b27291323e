"""Profiling that outgrows one machine: deterministic shards of the model list, and their merge.

``--shard I/N`` profiles the models whose position in the sorted model list is I modulo N (0-based),
so N machines (or N GPUs of one host, or the N pods of a Kubernetes Indexed Job) each take a fixed,
disjoint part and together cover every model. ``merge`` joins the shard profiles into one: it refuses
shards measured on different GPU types, server versions or load generators (their numbers would not
compare), or that measured the same model twice; the server baseline is each resource's largest
reading across the shards (the plan counts the server once per GPU, so the largest keeps it safe).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from profiler.errors import InputError
from profiler.schema import Profile, ServerBaseline

_SHARD = re.compile(r"(\d+)/(\d+)")
# Metadata that must agree between shards, with the words an error uses for it.
_SAME = (("gpu_name", "GPU type"), ("triton_version", "server version"), ("load_generator", "load generator"))


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise InputError(f"--shard {self.index}/{self.count}: expected I/N with 0 ≤ I < N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N`` as a Shard; ``InputError`` for anything else."""
        match = _SHARD.fullmatch(text.strip())
        if not match:
            raise InputError(f"--shard {text!r}: expected I/N, e.g. 0/4 (the first of four shards)")
        return cls(int(match.group(1)), int(match.group(2)))

    def models(self, models: Sequence[str]) -> list[str]:
        """The shard's part of ``models``: every N-th of the sorted list, starting at I."""
        return sorted(models)[self.index :: self.count]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _largest(baselines: Sequence[ServerBaseline]) -> ServerBaseline:
    values = {}
    for f in dataclasses.fields(ServerBaseline):
        readings = [getattr(b, f.name) for b in baselines if getattr(b, f.name) is not None]
        values[f.name] = max(readings) if readings else None
    return ServerBaseline(**values)


def merge(profiles: Sequence[Profile]) -> Profile:
    """One profile of every shard's points (in shard order); see the module docstring."""
    if not profiles:
        raise InputError("profile merge: name at least one shard profile")
    first = profiles[0]
    for other in profiles[1:]:
        for attr, words in _SAME:
            mine, theirs = getattr(first.metadata, attr), getattr(other.metadata, attr)
            if mine != theirs:
                raise InputError(
                    f"{other.source}: measured with another {words} ({theirs or 'unknown'!r}) than "
                    f"{first.source} ({mine or 'unknown'!r}); shards must compare"
                )
    owner: dict[str, str] = {}
    for profile in profiles:
        for model in profile.models():
            if model in owner:
                raise InputError(f"model {model!r} is in two shards: {owner[model]} and {profile.source}")
            owner[model] = profile.source
    notes = "; ".join(dict.fromkeys(p.metadata.notes for p in profiles if p.metadata.notes))
    metadata = dataclasses.replace(
        first.metadata,
        notes=f"merged from {len(profiles)} shards" + (f"; {notes}" if notes else ""),
    )
    return Profile(
        points=tuple(p for profile in profiles for p in profile.points),
        server=_largest([p.server for p in profiles]),
        metadata=metadata,
        source=" + ".join(p.source for p in profiles),
    )
