"""Requests in the conventions of Triton's LLM backends, built from the model's configuration.

* vLLM backend: ``text_input`` (BYTES), ``stream`` (BOOL), ``sampling_parameters`` (BYTES, a JSON
  object; we set ``max_tokens`` and ``ignore_eos`` so that every request generates exactly that many
  tokens); ``text_output`` out.
* TensorRT-LLM (its ``ensemble`` / ``tensorrt_llm_bls`` models): ``text_input`` (BYTES),
  ``max_tokens`` (INT32), ``stream`` (BOOL); ``text_output`` out.

The format is the one whose inputs the model declares (``detect_format``), or the one asked for. A
prompt of N tokens is N words (``synthetic_prompt``): what a tokenizer makes of it differs by model,
so the profile records the lengths asked for.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from tritonclient.grpc import model_config_pb2

from profiler.base.errors import InputError

RequestFormat = Literal["vllm", "trtllm"]
FORMAT_CHOICES = ("auto", "vllm", "trtllm")
OUTPUT_NAME = "text_output"
# The inputs each format sets, and those a model must declare for it to be recognised.
FORMAT_INPUTS: dict[str, tuple[str, ...]] = {
    "vllm": ("text_input", "stream", "sampling_parameters"),
    "trtllm": ("text_input", "max_tokens", "stream"),
}
_RECOGNISED_BY = {"vllm": ("text_input", "sampling_parameters"), "trtllm": ("text_input", "max_tokens")}
_TRITON_TYPES = {"TYPE_STRING": "BYTES"}
# Words of the synthetic prompts: common short English words, each one token for most tokenizers.
_WORDS = (
    "the of and to in is was for on that with as by at from his an were are which this be has had or "
    "one first new after who they have her she two been other when there all during into school time "
    "may years more most only over city some world would where later up such used many can state about"
).split()


def is_decoupled(config: model_config_pb2.ModelConfig) -> bool:
    """True for a model that streams (``model_transaction_policy { decoupled: true }``)."""
    return bool(config.model_transaction_policy.decoupled)


def _describe(config: model_config_pb2.ModelConfig) -> str:
    return ", ".join(i.name for i in config.input) or "none"


def detect_format(model: str, config: model_config_pb2.ModelConfig, asked: str = "auto") -> RequestFormat:
    """The request format for ``model``: ``asked``, or the one its inputs match.

    Raises:
        InputError: the model is not decoupled; its inputs match no format; the format asked for needs
            an input it lacks; or it requires an input no format sets.

    """
    if asked not in FORMAT_CHOICES:
        raise InputError(f"--request-format: expected one of {', '.join(FORMAT_CHOICES)}, got {asked!r}")
    if not is_decoupled(config):
        raise InputError(
            f"model {model!r} is not decoupled (model_transaction_policy {{ decoupled: true }}): "
            "it does not stream tokens",
            "profile it without --input-tokens/--output-tokens",
        )
    names = {i.name for i in config.input}
    if asked == "auto":
        found = [f for f, needed in _RECOGNISED_BY.items() if set(needed) <= names]
        if not found:
            raise InputError(
                f"model {model!r} is decoupled but its inputs ({_describe(config)}) match neither the vLLM "
                "backend's (text_input, sampling_parameters) nor TensorRT-LLM's (text_input, max_tokens)",
                "pass --request-format vllm or trtllm if its inputs are named otherwise",
            )
        fmt = found[0]
    else:
        fmt = asked
        missing = [n for n in _RECOGNISED_BY[fmt] if n not in names]
        if missing:
            raise InputError(
                f"--request-format {fmt}: model {model!r} has no input {missing[0]!r} "
                f"(its inputs: {_describe(config)})"
            )
    required = [i.name for i in config.input if not i.optional and i.name not in FORMAT_INPUTS[fmt]]
    if required:
        raise InputError(
            f"model {model!r} requires input {required[0]!r}, which {fmt} requests do not set "
            f"(its inputs: {_describe(config)})"
        )
    return fmt  # type: ignore[return-value]


@dataclass(frozen=True)
class TensorValue:
    """One input of a request: name, Triton datatype, shape, value."""

    name: str
    datatype: str
    value: np.ndarray

    @property
    def shape(self) -> list[int]:
        """The tensor's shape."""
        return list(self.value.shape)


def _values(fmt: RequestFormat, prompt: str, max_tokens: int) -> dict[str, object]:
    if fmt == "vllm":
        sampling = {"max_tokens": max_tokens, "ignore_eos": True, "temperature": 0.0}
        return {"text_input": prompt, "stream": True, "sampling_parameters": json.dumps(sampling)}
    return {"text_input": prompt, "max_tokens": max_tokens, "stream": True}


def request_tensors(
    fmt: RequestFormat, config: model_config_pb2.ModelConfig, prompt: str, max_tokens: int
) -> tuple[TensorValue, ...]:
    """The inputs of one request in ``fmt``, typed and shaped as ``config`` declares them.

    Only the inputs the model declares are sent (``stream`` is optional in both backends). A model that
    batches (``max_batch_size`` > 0) gets a batch of one.

    Raises:
        ValueError: ``max_tokens`` is below 1.

    """
    if max_tokens < 1:
        raise ValueError(f"output tokens must be at least 1, got {max_tokens}")
    declared = {i.name: i for i in config.input}
    tensors = []
    for name, value in _values(fmt, prompt, max_tokens).items():
        spec = declared.get(name)
        if spec is None:
            continue
        type_name = model_config_pb2.DataType.Name(spec.data_type)
        datatype = _TRITON_TYPES.get(type_name, type_name.removeprefix("TYPE_"))
        dims = [1 if d < 0 else d for d in spec.dims] or [1]
        shape = ([1] if config.max_batch_size > 0 else []) + dims
        if datatype == "BYTES":
            array = np.array([str(value).encode()], dtype=np.object_)
        else:
            array = np.array([value], dtype=_NUMPY.get(datatype, np.int64))
        tensors.append(TensorValue(name, datatype, array.reshape([1] * len(shape))))
    return tuple(tensors)


_NUMPY = {
    "BOOL": np.bool_,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
}


def synthetic_prompt(tokens: int, rng: random.Random) -> str:
    """A prompt of ``tokens`` words drawn from ``rng`` (seeded: the same run sends the same prompts)."""
    return " ".join(rng.choice(_WORDS) for _ in range(tokens))


def synthetic_requests(
    fmt: RequestFormat,
    config: model_config_pb2.ModelConfig,
    lengths: Sequence[tuple[int, int]],
    rng: random.Random,
) -> tuple[tuple[TensorValue, ...], ...]:
    """One request per (input tokens, output tokens) of ``lengths``, prompts drawn from ``rng``."""
    return tuple(request_tensors(fmt, config, synthetic_prompt(n_in, rng), n_out) for n_in, n_out in lengths)
