"""Request inputs from a model's configuration (a protobuf ModelConfig, as the server returns it)."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from profiler.base.errors import InputError
from profiler.measure.inputs import input_specs, instance_count, parse_shape


def config(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


BATCHING = config(
    """
    max_batch_size: 8
    input [
      { name: "IMAGE" data_type: TYPE_FP16 dims: [ 3, 4, 4 ] },
      { name: "IDS" data_type: TYPE_INT64 dims: [ 5 ] },
      { name: "TEXT" data_type: TYPE_STRING dims: [ 1 ] },
      { name: "FLAG" data_type: TYPE_BOOL dims: [ 1 ] },
      { name: "MASK" data_type: TYPE_FP32 dims: [ 2 ] optional: true }
    ]
    instance_group [ { kind: KIND_GPU count: 2 gpus: [ 0, 1 ] }, { kind: KIND_CPU count: 1 } ]
    """
)
DYNAMIC = config('max_batch_size: 0 input [ { name: "X" data_type: TYPE_FP32 dims: [ -1, 16, -1 ] } ]')


def test_batching_model_gets_the_batch_dimension_in_front_and_optional_inputs_left_out():
    specs = input_specs("m", BATCHING, batch_size=4)
    assert [(s.name, s.datatype, s.shape) for s in specs] == [
        ("IMAGE", "FP16", (4, 3, 4, 4)),
        ("IDS", "INT64", (4, 5)),
        ("TEXT", "BYTES", (4, 1)),
        ("FLAG", "BOOL", (4, 1)),
    ]
    arrays = [s.array() for s in specs]
    assert [a.dtype for a in arrays] == [np.float16, np.int64, np.object_, np.bool_]
    assert arrays[0].shape == (4, 3, 4, 4) and float(arrays[0].max()) < 1.0
    assert np.array_equal(specs[0].array(), arrays[0])  # seeded: every run sends the same data


def test_batch_size_beyond_the_model_is_refused():
    with pytest.raises(InputError, match="exceeds its max_batch_size 8"):
        input_specs("m", BATCHING, batch_size=16)
    with pytest.raises(InputError, match="does not batch"):
        input_specs("m", DYNAMIC, batch_size=2, shapes={"X": (1, 16, 1)})


def test_dynamic_dims_need_a_shape_and_the_error_says_which():
    with pytest.raises(InputError, match=r"input 'X' has dynamic dims \[-1, 16, -1\]") as caught:
        input_specs("m", DYNAMIC, batch_size=1)
    assert caught.value.hint == "give its shape without the batch dimension: --shape X:D,16,D"
    (spec,) = input_specs("m", DYNAMIC, batch_size=1, shapes={"X": (8, 16, 3)})
    assert spec.shape == (8, 16, 3) and spec.batch_size == 0


def test_a_shape_that_contradicts_the_configured_dims_is_refused():
    with pytest.raises(InputError, match="does not fit the configured dims"):
        input_specs("m", DYNAMIC, batch_size=1, shapes={"X": (8, 15, 3)})
    with pytest.raises(InputError, match="does not fit"):
        input_specs("m", DYNAMIC, batch_size=1, shapes={"X": (8, 16)})


def test_parse_shape_reads_name_and_dims_and_refuses_the_rest():
    assert parse_shape("INPUT__0:3,224,224") == ("INPUT__0", (3, 224, 224))
    assert parse_shape("a:b:7") == ("a:b", (7,))
    for bad in ("INPUT0", "INPUT0:", ":3", "X:3,x", "X:0"):
        with pytest.raises(ValueError, match="INPUT0|dims|NAME"):
            parse_shape(bad)


def test_instance_count_counts_each_gpu_of_a_group():
    assert instance_count(BATCHING) == 5
    assert instance_count(DYNAMIC) == 1
