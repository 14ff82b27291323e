"""Triton model configurations at the repository edge: read, pin to the server's one GPU, annotate.

A config.pbtxt is parsed into tritonclient's ``model_config_pb2.ModelConfig``. A per-GPU server
sees one GPU (``CUDA_VISIBLE_DEVICES``), which it calls device 0, so every KIND_GPU or KIND_AUTO
instance group becomes KIND_GPU on device 0 (counts, KIND_CPU groups and all other settings kept).
Only a config that needs that change is re-serialized (``text_format``); any other is copied as
written, comments included. A re-serialized config keeps the original's comment lines at its top.
Every written config starts with a comment naming the profiled point the plan counts on.
"""

from __future__ import annotations

import os

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from profiler import InputError, ProfilePoint

CONFIG = "config.pbtxt"
HEADER = "# gpupack plan:"
_KEPT = "# (comments of the original config, kept here: gpupack rewrote its instance groups)"


def check_model_name(name: str) -> None:
    """Refuse names that could escape the repository directory."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or os.sep in name or ".." in name:
        raise InputError(
            f"model name {name!r} is not a plain directory name (contains a path separator or '..')"
        )


def parse_config(text: str, source: str) -> mc.ModelConfig:
    """``text`` as a ModelConfig; ``InputError`` naming ``source`` when it is not one."""
    config = mc.ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise InputError(f"{source}: not a valid model config ({exc})") from None
    return config


def ensemble_steps(config: mc.ModelConfig) -> list[str]:
    """The models an ensemble calls, in step order without repeats (none for other models)."""
    return list(dict.fromkeys(step.model_name for step in config.ensemble_scheduling.step))


def _pin_to_device_zero(config: mc.ModelConfig) -> bool:
    """Make every GPU/AUTO group KIND_GPU on device 0; True when anything changed."""
    changed = False
    for group in config.instance_group:
        if group.kind in (mc.ModelInstanceGroup.KIND_GPU, mc.ModelInstanceGroup.KIND_AUTO):
            if group.kind != mc.ModelInstanceGroup.KIND_GPU or list(group.gpus) != [0]:
                group.kind = mc.ModelInstanceGroup.KIND_GPU
                del group.gpus[:]
                group.gpus.append(0)
                changed = True
    return changed


def point_comment(point: ProfilePoint) -> str:
    """The first line of a written config: the point the plan counts on."""
    return (
        f"{HEADER} profiled at batch size {point.batch_size}, concurrency {point.concurrency}, "
        f"{point.instance_count} instance(s)"
        + (f", config variant {point.variant}" if point.variant else "")
        + (f", {point.throughput:g} infer/s" if point.throughput is not None else "")
        + "\n"
    )


def rewrite_config(text: str, source: str, point: ProfilePoint | None = None) -> str:
    """``text`` (a config.pbtxt) pinned to device 0 as the module docstring says, with the point comment.

    An earlier gpupack comment line is replaced, so rewriting a written config changes nothing.
    """
    lines = [line for line in text.splitlines() if not line.startswith(HEADER)]
    original = "\n".join(lines) + ("\n" if lines else "")
    config = parse_config(original, source)
    body = original
    if _pin_to_device_zero(config):
        comments = [line for line in lines if line.lstrip().startswith("#") and line != _KEPT]
        kept = "\n".join([_KEPT, *comments]) + "\n" if comments else ""
        body = kept + text_format.MessageToString(config)
    return (point_comment(point) if point is not None else "") + body
