"""Request inputs generated from a model's configuration.

Every required input of the model gets a tensor of its datatype and shape: the batch dimension in
front when the model batches (``max_batch_size > 0``), then the configured dims. A dynamic dim (-1)
needs ``--shape NAME:D1,D2,...`` (dims without the batch dimension, as perf_analyzer's ``--shape``).
The data are random but fixed (seeded), so every run sends the same requests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import model_config_pb2
from tritonclient.utils import triton_to_np_dtype

from profiler.base.errors import InputError

_SEED = 0
# Integer inputs are often indices (tokens, classes): small values stay valid for most models.
_INT_HIGH = 10
_BYTES_ELEMENT = b"gpupack"
# gRPC messages are at most 2 GiB - 1 (tritonclient and Triton both raise their limits to INT32_MAX);
# a larger request can't be sent, and building it would take several times its size in memory.
MAX_REQUEST_BYTES = 2**31 - 1
# A BYTES element goes on the wire as a 4-byte length and its bytes.
_BYTES_ELEMENT_SIZE = 4 + len(_BYTES_ELEMENT)


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME:D1,D2,...`` as given to ``--shape``.

    Raises:
        ValueError: not that form, or a dim is not a positive integer.

    """
    name, sep, dims = text.rpartition(":")
    if not sep or not name or not dims:
        raise ValueError(f"{text!r}: expected NAME:D1,D2,... (dims without the batch dimension)")
    try:
        values = tuple(int(d) for d in dims.split(","))
    except ValueError:
        raise ValueError(f"{text!r}: dims must be whole numbers, e.g. INPUT0:3,224,224") from None
    if any(v < 1 for v in values):
        raise ValueError(f"{text!r}: dims must be at least 1")
    if math.prod(values) > MAX_REQUEST_BYTES:
        raise ValueError(f"{text!r}: {math.prod(values):,} elements, more than a request can carry")
    return name, values


@dataclass(frozen=True)
class InputSpec:
    """One input tensor of a request: Triton datatype, the dims without batch, and the batch size.

    ``batch_size`` is 0 for a model that does not batch (no batch dimension is sent).
    """

    name: str
    datatype: str
    dims: tuple[int, ...]
    batch_size: int

    @property
    def shape(self) -> tuple[int, ...]:
        """The full shape sent."""
        return (self.batch_size, *self.dims) if self.batch_size else self.dims

    @property
    def nbytes(self) -> int:
        """The size of this tensor's data in a request."""
        if self.datatype == "BYTES":
            return math.prod(self.shape) * _BYTES_ELEMENT_SIZE
        return math.prod(self.shape) * np.dtype(triton_to_np_dtype(self.datatype)).itemsize

    def array(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """Seeded random data of this shape and datatype."""
        rng = rng or np.random.default_rng(_SEED)
        dtype = triton_to_np_dtype(self.datatype)
        if self.datatype == "BYTES":
            return np.full(self.shape, _BYTES_ELEMENT, dtype=np.object_)
        if self.datatype == "BOOL":
            return rng.integers(0, 2, self.shape).astype(np.bool_)
        if np.issubdtype(dtype, np.integer):
            return rng.integers(0, _INT_HIGH, self.shape).astype(dtype)
        return rng.random(self.shape, dtype=np.float32).astype(dtype)


def _datatype(value: int) -> str:
    name = model_config_pb2.DataType.Name(value).removeprefix("TYPE_")
    return "BYTES" if name == "STRING" else name


def _dims(model: str, tensor: model_config_pb2.ModelInput, shapes: Mapping[str, tuple[int, ...]]) -> tuple:
    configured = tuple(tensor.dims)
    given = shapes.get(tensor.name)
    if given is None:
        if any(d < 0 for d in configured):
            raise InputError(
                f"{model}: input {tensor.name!r} has dynamic dims {list(configured)}",
                f"give its shape without the batch dimension: --shape {tensor.name}:"
                + ",".join("D" if d < 0 else str(d) for d in configured),
            )
        return configured
    fits = len(given) == len(configured) and all(
        c < 0 or c == g for c, g in zip(configured, given, strict=True)
    )
    if not fits:
        raise InputError(
            f"{model}: --shape {tensor.name}:{','.join(map(str, given))} does not fit the configured dims "
            f"{list(configured)} (give the dims without the batch dimension)"
        )
    return given


def input_specs(
    model: str,
    config: model_config_pb2.ModelConfig,
    batch_size: int,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> tuple[InputSpec, ...]:
    """The inputs of one request of ``batch_size`` samples (optional inputs are left out).

    Raises:
        InputError: the model cannot take this batch size, or a dynamic dim has no ``--shape``.

    """
    limit = config.max_batch_size
    if limit == 0 and batch_size > 1:
        raise InputError(
            f"{model}: does not batch (max_batch_size 0), so batch size {batch_size} is impossible",
            "profile it with --batch 1, or set max_batch_size in its config.pbtxt",
        )
    if limit and batch_size > limit:
        raise InputError(f"{model}: batch size {batch_size} exceeds its max_batch_size {limit}")
    specs = tuple(
        InputSpec(
            name=tensor.name,
            datatype=_datatype(tensor.data_type),
            dims=_dims(model, tensor, shapes or {}),
            batch_size=batch_size if limit else 0,
        )
        for tensor in config.input
        if not tensor.optional
    )
    size = sum(spec.nbytes for spec in specs)
    if size > MAX_REQUEST_BYTES:
        raise InputError(
            f"{model}: a request of batch size {batch_size} is {size / 2**30:.1f} GiB, more than gRPC's "
            f"{MAX_REQUEST_BYTES / 2**30:.0f} GiB message limit",
            "give smaller --shape dims or a smaller --batch",
        )
    return specs


def instance_count(config: model_config_pb2.ModelConfig) -> int:
    """Model instances the server runs: each group's count, times its GPUs when it lists several."""
    total = sum(group.count * max(1, len(group.gpus)) for group in config.instance_group)
    return max(1, total)
