"""Streaming (LLM) models' memory shares, written into each engine's own memory knob.

An LLM engine takes memory by a fraction, not by need: the vLLM backend reserves
``gpu_memory_utilization`` (default 0.9) of the whole GPU, TensorRT-LLM ``kv_cache_free_gpu_mem_fraction``
(default 0.9) of what is free when it loads. Left at their defaults, two of them on one GPU fail at
load. The plan gives each streaming replica a share (``resources.streaming_memory_mb``: weights + KV
cache × sequences in flight); this module turns it into the knob:

* vLLM backend (a ``model.json`` in the model's version folder, or ``backend: "vllm"``):
  ``gpu_memory_utilization`` = share / GPU memory, a fraction of the whole GPU, rounded up to
  ``FRACTION_DIGITS`` digits. The server, the classic models and every share on a GPU must sum under
  the GPU's memory (``gpu_shares`` refuses a GPU where the written fractions do not).
* TensorRT-LLM (``backend: "tensorrtllm"``): ``kv_cache_free_gpu_mem_fraction`` = KV share / the
  memory free when it loads. Triton loads a repository's models in parallel, so the load order is not
  known: the fraction is computed for the least it can find free (every other model of the GPU already
  loaded, then its own weights), and ``max_tokens_in_paged_kv_cache`` = sequences × (input + output
  tokens) is written beside it. TensorRT-LLM sizes its KV cache to the smaller of the two, so loaded
  first it still takes only its share, and loaded last its share is what is left.
* Any other backend (the Python-backend example): no knob; the share is in plan.json only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format

from packer.deploy.configs import CONFIG, parse_config
from packer.deploy.source import SourceModel
from packer.plan import Gpu
from packer.resources import sequences_in_flight, streaming_memory_mb
from profiler import InputError, ProfilePoint

VLLM_FILE = "model.json"
VLLM_KNOB = "gpu_memory_utilization"
TRTLLM_FRACTION = "kv_cache_free_gpu_mem_fraction"
TRTLLM_TOKENS = "max_tokens_in_paged_kv_cache"
# Fractions are written with 4 digits (0.01 % of an H200 is 14 MB), rounded up so a share is never cut.
FRACTION_DIGITS = 4


@dataclass(frozen=True)
class Share:
    """One streaming replica's planned memory on its GPU."""

    model: str
    memory_mb: float
    kv_mb: float
    fraction: float  # of the whole GPU, rounded up
    free_fraction: float  # of the memory free when it loads last (TensorRT-LLM)
    kv_tokens: int  # sequences × tokens per sequence (TensorRT-LLM)


def _round_up(value: float) -> float:
    scale = 10**FRACTION_DIGITS
    return math.ceil(value * scale - 1e-9) / scale


def _share(gpu: Gpu, point: ProfilePoint, memory_mb: float) -> Share:
    sequences = sequences_in_flight(point)
    kv_mb = (point.kv_mb_per_sequence or 0.0) * sequences
    # Loaded last: everything else on the GPU (server included) is there, then its own weights.
    free = gpu.gpu_memory_mb - (gpu.memory_mb - memory_mb) - (point.weights_mb or 0.0)
    tokens = (point.input_tokens or 0.0) + (point.output_tokens or 0.0)
    return Share(
        model=point.model,
        memory_mb=memory_mb,
        kv_mb=kv_mb,
        fraction=_round_up(memory_mb / gpu.gpu_memory_mb),
        free_fraction=_round_up(kv_mb / free) if free > 0 else math.inf,
        kv_tokens=math.ceil(sequences * tokens),
    )


def gpu_shares(gpu: Gpu) -> dict[str, Share]:
    """The shares of ``gpu``'s streaming models, by model; none for a GPU of classic models.

    Raises:
        InputError: the shares, with the server and the other models, do not fit under the GPU's
            memory (one line naming the GPU and the figures).

    """
    shares = {}
    for point in gpu.points:
        memory = streaming_memory_mb(point)
        if memory is not None:
            shares[point.model] = _share(gpu, point, memory)
    if not shares:
        return shares
    others = gpu.memory_mb - sum(s.memory_mb for s in shares.values())
    total = others / gpu.gpu_memory_mb + sum(s.fraction for s in shares.values())
    too_big = [s for s in shares.values() if s.free_fraction > 1]
    if total >= 1 or too_big:
        listed = ", ".join(f"{s.model} {s.fraction:g}" for s in shares.values())
        raise InputError(
            f"GPU {gpu.index}: the memory shares of its streaming models ({listed} of "
            f"{gpu.gpu_memory_mb:g} MB) with the server and other models ({others:g} MB) come to "
            f"{total:.4f} of the GPU, not under 1",
            "plan with the GPU's real memory (--gpu-memory) or a lower --max-memory",
        )
    return shares


def engine(model: SourceModel) -> str | None:
    """``vllm``, ``tensorrtllm`` or ``None`` (no memory knob) for a model of the source repository."""
    backend = model.config.backend if model.config is not None else ""
    if backend == "vllm" or any(model.path.glob(f"*/{VLLM_FILE}")):
        return "vllm"
    if backend == "tensorrtllm":
        return "tensorrtllm"
    return None


def write_share(model: SourceModel, written: Path, share: Share) -> str | None:
    """Set the engine's knob in the copy of ``model`` at ``written``; a note saying what was set."""
    kind = engine(model)
    if kind == "vllm":
        files = sorted(written.glob(f"*/{VLLM_FILE}"))
        if not files:
            raise InputError(f"{model.path}: a vLLM backend model without a version folder's {VLLM_FILE}")
        for path in files:
            try:
                data = json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError) as exc:
                raise InputError(
                    f"{model.path / path.relative_to(written)}: not valid JSON ({exc})"
                ) from None
            if not isinstance(data, dict):
                raise InputError(f"{model.path / path.relative_to(written)}: not a JSON object")
            data[VLLM_KNOB] = share.fraction
            path.write_text(json.dumps(data, indent=2) + "\n")
        return f"{model.name}: {VLLM_KNOB} {share.fraction:g} ({share.memory_mb:g} MB)"
    if kind == "tensorrtllm":
        config_path = written / CONFIG
        text = config_path.read_text()
        config = parse_config(text, str(model.path / CONFIG))
        config.parameters[TRTLLM_FRACTION].string_value = f"{share.free_fraction:g}"
        config.parameters[TRTLLM_TOKENS].string_value = str(share.kv_tokens)
        comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
        config_path.write_text(
            "\n".join(comments) + ("\n" if comments else "") + text_format.MessageToString(config)
        )
        return (
            f"{model.name}: {TRTLLM_FRACTION} {share.free_fraction:g}, {TRTLLM_TOKENS} {share.kv_tokens} "
            f"({share.kv_mb:g} MB of KV cache)"
        )
    return None
