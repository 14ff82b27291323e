"""Profiling that outgrows one machine: deterministic shards of the model list, and their merge.

``--shard I/N`` profiles the models whose position in the sorted model list is I modulo N (0-based),
so N machines (or N GPUs of one host, or the N pods of a Kubernetes Indexed Job) each take a fixed,
disjoint part and together cover every model. ``merge`` joins the shard profiles into one: it refuses
shards measured on different GPU types, server versions or load generators (their numbers would not
compare), or that measured the same model twice; the server baseline is each resource's largest
reading across the shards (the plan counts the server once per GPU, so the largest keeps it safe).

``--gpus 0,1,...`` runs the shards on one host at once: one ``gpupack profile --shard i/N --gpu g``
process (and so one server) per GPU, then their merge (``profile_in_parallel``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from profiler.base.errors import GpupackError, InputError
from profiler.measure.request import ProfileRequest
from profiler.profiles.profile_io import read_profile, write_profile
from profiler.profiles.schema import PROFILE_CSV, Profile, ServerBaseline

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
            if attr == "load_generator" and _streaming(first) != _streaming(other):
                continue  # streaming (LLM) models are measured by their own generator, by design
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
        load_generator="; ".join(dict.fromkeys(p.metadata.load_generator for p in profiles)),
    )
    return Profile(
        points=tuple(p for profile in profiles for p in profile.points),
        server=_largest([p.server for p in profiles]),
        metadata=metadata,
        source=" + ".join(p.source for p in profiles),
    )


def _streaming(profile: Profile) -> bool:
    """True for a profile of streaming (LLM) models (``gpupack profile`` of decoupled models)."""
    return any(p.tokens_per_s is not None or p.weights_mb is not None for p in profile.points)


def repository_models(repository: Path) -> tuple[str, ...]:
    """The model folders of a repository, sorted (every folder not hidden)."""
    try:
        names = sorted(e.name for e in repository.iterdir() if e.is_dir() and not e.name.startswith("."))
    except OSError as exc:
        raise InputError(f"--model-repository {repository}: cannot list it ({exc.strerror or exc})") from None
    if not names:
        raise InputError(f"--model-repository {repository}: no model folders")
    return tuple(names)


def shard_args(request: ProfileRequest, shard: Shard, gpu: int, output: Path) -> list[str]:
    """``gpupack profile`` arguments that run ``request``'s shard ``shard`` on ``gpu`` into ``output``."""
    s = request.settings
    args = [
        "profile",
        "--models", ",".join(request.models),
        "--shard", str(shard),
        "--gpu", str(gpu),
        "--output", str(output),
        "--model-repository", str(request.model_repository),
        "--batch", ",".join(map(str, request.batch_sizes)),
        "--concurrency", ",".join(map(str, request.concurrencies)),
        "--load-generator", request.load_generator,
        "--window", repr(s.window_s), "--warmup", repr(s.warmup_s), "--max-windows", str(s.max_windows),
        "--stability", repr(s.stability_pct), "--request-timeout", repr(s.request_timeout_s),
        "--sample-interval", str(round(request.sample_interval_s * 1000)),
    ]  # fmt: skip
    for flag, path in (
        ("--triton-server", request.triton_server),
        ("--backend-python", request.backend_python),
        ("--backend-directory", request.backend_directory),
        ("--perf-analyzer", request.perf_analyzer),
    ):
        if path is not None:
            args += [flag, str(path)]
    for name, dims in request.shapes:
        args += ["--shape", f"{name}:{','.join(map(str, dims))}"]
    if not request.reload_per_batch:
        args.append("--no-reload-per-batch")
    if request.request_rates:
        args += ["--request-rate", ",".join(map(repr, request.request_rates))]
    return args + (["--resume"] if request.resume else [])


def profile_in_parallel(request: ProfileRequest, gpus: Sequence[int]) -> tuple[Profile, list[int]]:
    """One ``gpupack profile`` per GPU, shard i of len(gpus) on ``gpus[i]``, at once; then their merge.

    Each shard writes ``OUTPUT/shards/shard-i`` (kept, so ``--resume`` goes on where each stopped);
    the merged profile is written to ``OUTPUT``. Returns it with each shard's exit code.
    """
    folder = request.output / "shards"
    shards = [Shard(i, len(gpus)) for i in range(len(gpus))]
    outputs = [folder / f"shard-{s.index}" for s in shards]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUPACK_PROFILE_")}
    children = [
        subprocess.Popen([sys.executable, "-m", "cli", *shard_args(request, s, g, out)], env=env)
        for s, g, out in zip(shards, gpus, outputs, strict=True)
    ]
    try:
        codes = [child.wait() for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                child.wait()
    measured = [out for out in outputs if (out / PROFILE_CSV).exists()]
    if not measured:
        raise GpupackError(f"no shard measured anything (exit codes {codes})", f"see {folder}")
    merged = merge([read_profile(out) for out in measured])
    write_profile(merged, request.output)
    return merged, codes
