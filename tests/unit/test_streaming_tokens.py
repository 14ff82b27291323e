"""Streaming (LLM) profiling without a server: token timings, the memory fit, request formats, refusals."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from profiler.base.errors import InputError
from profiler.measure.streaming.formats import detect_format, request_tensors, synthetic_prompt
from profiler.measure.streaming.request import StreamingProfileRequest, read_repository_config
from profiler.measure.streaming.run import run_streaming_profile
from profiler.measure.streaming.tokens import RequestTiming, TokenLength, fit_memory, summarize_stream
from profiler.profiles.profile_io import read_profile, write_profile
from profiler.profiles.schema import PROFILE_CSV, STREAMING_ATTRS, Profile, ProfilePoint

EXAMPLES = Path(__file__).resolve().parents[2] / "profiler" / "examples"

TRTLLM_CONFIG = """
name: "ensemble"
platform: "ensemble"
max_batch_size: 64
model_transaction_policy { decoupled: true }
input [
  { name: "text_input", data_type: TYPE_STRING, dims: [ 1 ] },
  { name: "max_tokens", data_type: TYPE_INT32, dims: [ 1 ] },
  { name: "stream", data_type: TYPE_BOOL, dims: [ 1 ], optional: true },
  { name: "bad_words", data_type: TYPE_STRING, dims: [ -1 ], optional: true }
]
output [ { name: "text_output", data_type: TYPE_STRING, dims: [ -1 ] } ]
"""


def _config(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def _vllm_config() -> model_config_pb2.ModelConfig:
    return read_repository_config(EXAMPLES, "llm_sleeper")


def _request(sent: float, ttft: float, gap: float, tokens: int) -> RequestTiming:
    times = tuple(sent + ttft + i * gap for i in range(tokens))
    return RequestTiming(sent, times, times[-1] + 0.001)


# ---- token timings ------------------------------------------------------------------------------


def test_token_percentiles_come_from_requests_complete_in_the_window():
    # Three requests inside [0, 10]: TTFT 0.1, 0.2, 0.3 s; gaps 0.05 s; one request outside the window.
    timings = [_request(1.0 + i, 0.1 * (i + 1), 0.05, 5) for i in range(3)]
    timings.append(_request(9.9, 0.5, 0.05, 5))  # sent inside, completes after the window
    summary = summarize_stream(timings, 0.0, 10.0)
    assert summary.requests == 3
    assert summary.ttft_ms[50] == pytest.approx(200) and summary.ttft_ms[99] == pytest.approx(300)
    assert summary.itl_ms[50] == pytest.approx(50) and summary.itl_ms[99] == pytest.approx(50)
    assert summary.latency_ms[50] == pytest.approx(1000 * (0.2 + 4 * 0.05) + 1)
    assert summary.mean_output_tokens == 5
    # Throughput counts what arrived in the window: 15 tokens in 10 s (the late request's first token
    # came at 10.4 s); requests/s is that over the 5 tokens of a complete request.
    assert summary.tokens_per_s == pytest.approx(1.5) and summary.requests_per_s == pytest.approx(0.3)


def test_inter_token_latency_pools_every_gap_and_is_absent_for_one_token_requests():
    timings = [RequestTiming(0.0, (0.1, 0.11, 0.31), 0.31), RequestTiming(0.0, (0.2, 0.22), 0.22)]
    summary = summarize_stream(timings, 0.0, 1.0)
    # Gaps 10, 20 and 200 ms pooled; nearest rank: p50 the 2nd, p90 and p99 the 3rd.
    assert [summary.itl_ms[q] for q in (50, 90, 99)] == pytest.approx([20, 200, 200])
    assert summarize_stream([RequestTiming(0.0, (0.1,), 0.1)], 0.0, 1.0).itl_ms == {}


def test_a_window_without_a_complete_request_is_refused():
    with pytest.raises(ValueError, match="no request was sent and completed"):
        summarize_stream([RequestTiming(0.0, (0.5,), None)], 0.0, 1.0)
    with pytest.raises(ValueError, match="window is empty"):
        summarize_stream([], 1.0, 1.0)


# ---- memory per sequence ------------------------------------------------------------------------


def test_memory_fit_recovers_weights_and_memory_per_sequence_from_recorded_peaks():
    # Peak resident memory (MB) of the server tree, recorded on the 2-core CPU host for llm_sleeper
    # (64 MB weights, 16 MB per sequence) at concurrency 1, 2, 4 and 8, 2 s per point.
    samples = [(1, 163.426), (2, 179.646), (4, 211.89), (8, 276.115)]
    fit = fit_memory(samples)
    assert fit.per_sequence_mb == pytest.approx(16, rel=0.02)
    assert fit.intercept_mb == pytest.approx(147.4, abs=1) and fit.points == 4
    assert fit.max_residual_mb < 1


def test_memory_fit_is_exact_on_a_line_and_never_negative():
    assert fit_memory([(1, 10.0), (3, 30.0)]).per_sequence_mb == pytest.approx(10)
    assert fit_memory([(1, 100.0), (4, 99.0)]).per_sequence_mb == 0.0


def test_memory_fit_needs_two_concurrencies():
    with pytest.raises(ValueError, match="two or more concurrencies"):
        fit_memory([(4, 100.0), (4, 101.0)])
    with pytest.raises(ValueError, match="finite"):
        fit_memory([(1, float("nan")), (2, 3.0)])


# ---- token lengths ------------------------------------------------------------------------------


def test_token_lengths_are_fixed_or_uniform():
    assert TokenLength.parse("128", "--input-tokens") == TokenLength(128, 128)
    spread = TokenLength.parse(" 64-192 ", "--input-tokens")
    assert spread.mean == 128 and str(spread) == "64-192"
    rng = random.Random(1)
    assert {spread.draw(rng) for _ in range(200)} <= set(range(64, 193))
    assert len(synthetic_prompt(37, rng).split()) == 37


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "--output-tokens: a request needs at least 1 token, got '0'"),
        ("0-4", "--output-tokens: a request needs at least 1 token"),
        ("9-3", "--output-tokens: LOW above HIGH"),
        ("many", "--output-tokens: expected N or LOW-HIGH tokens"),
        ("-5", "--output-tokens: expected N or LOW-HIGH tokens"),
    ],
)
def test_output_length_zero_and_malformed_lengths_are_refused_in_one_line(text, message):
    with pytest.raises(InputError, match=message) as caught:
        TokenLength.parse(text, "--output-tokens")
    assert "\n" not in str(caught.value)


def test_a_zero_token_length_cannot_be_built_directly():
    with pytest.raises(InputError, match="at least 1 token"):
        TokenLength(0, 0)


# ---- request formats ----------------------------------------------------------------------------


def test_vllm_requests_carry_the_prompt_stream_and_max_tokens_as_json():
    config = _vllm_config()
    assert detect_format("llm_sleeper", config) == "vllm"
    tensors = {t.name: t for t in request_tensors("vllm", config, "a b c", 16)}
    assert set(tensors) == {"text_input", "stream", "sampling_parameters"}
    assert tensors["text_input"].datatype == "BYTES" and tensors["text_input"].shape == [1]
    assert tensors["text_input"].value[0] == b"a b c"
    assert tensors["stream"].datatype == "BOOL" and bool(tensors["stream"].value[0])
    sampling = json.loads(tensors["sampling_parameters"].value[0])
    assert sampling["max_tokens"] == 16 and sampling["ignore_eos"] is True


def test_trtllm_requests_carry_max_tokens_as_int32_in_a_batch_of_one():
    config = _config(TRTLLM_CONFIG)
    assert detect_format("ensemble", config) == "trtllm"
    tensors = {t.name: t for t in request_tensors("trtllm", config, "a b", 7)}
    assert set(tensors) == {"text_input", "max_tokens", "stream"}  # optional bad_words left out
    assert tensors["max_tokens"].datatype == "INT32" and tensors["max_tokens"].value.dtype == np.int32
    assert tensors["max_tokens"].shape == [1, 1] and int(tensors["max_tokens"].value[0, 0]) == 7
    assert tensors["text_input"].shape == [1, 1]


def test_a_decoupled_model_with_unknown_inputs_is_refused_naming_the_model_and_its_inputs():
    config = _config(TRTLLM_CONFIG.replace('"max_tokens"', '"request_output_len"'))
    with pytest.raises(InputError, match=r"model 'ensemble' is decoupled but its inputs \(text_input, "
                       r"request_output_len, stream, bad_words\) match neither") as caught:  # fmt: skip
        detect_format("ensemble", config)
    assert "\n" not in str(caught.value)


def test_format_refusals_not_decoupled_missing_input_and_required_extra():
    not_streaming = _config(TRTLLM_CONFIG.replace("model_transaction_policy { decoupled: true }", ""))
    with pytest.raises(InputError, match="model 'ensemble' is not decoupled"):
        detect_format("ensemble", not_streaming)
    with pytest.raises(
        InputError, match="--request-format vllm: model 'ensemble' has no input 'sampling_parameters'"
    ):
        detect_format("ensemble", _config(TRTLLM_CONFIG), "vllm")
    required = _config(TRTLLM_CONFIG.replace(", dims: [ -1 ], optional: true", ", dims: [ -1 ]"))
    with pytest.raises(InputError, match="requires input 'bad_words', which trtllm requests do not set"):
        detect_format("ensemble", required)
    with pytest.raises(InputError, match="--request-format: expected one of auto, vllm, trtllm"):
        detect_format("ensemble", _config(TRTLLM_CONFIG), "openai")


def test_zero_output_tokens_are_never_requested():
    with pytest.raises(ValueError, match="output tokens must be at least 1"):
        request_tensors("vllm", _vllm_config(), "a", 0)


# ---- the entry point's refusals (before any server starts) --------------------------------------


def test_profiling_a_decoupled_model_with_unknown_inputs_is_refused_before_a_server_starts(tmp_path: Path):
    repo = tmp_path / "models"
    shutil.copytree(EXAMPLES / "llm_sleeper", repo / "chat")
    config = repo / "chat" / "config.pbtxt"
    config.write_text(config.read_text().replace('"sampling_parameters"', '"params"'))
    request = StreamingProfileRequest(models=("chat",), model_repository=repo, output=tmp_path / "out")
    with pytest.raises(
        InputError, match=r"model 'chat' is decoupled but its inputs \(text_input, stream, params\)"
    ):
        run_streaming_profile(request, reporter=None)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_an_unknown_model_is_refused_with_a_suggestion(tmp_path: Path):
    shutil.copytree(EXAMPLES / "llm_sleeper", tmp_path / "models" / "llm_sleeper")
    request = StreamingProfileRequest(models=("llm_sleper",), model_repository=tmp_path / "models")
    with pytest.raises(InputError, match="no model 'llm_sleper'") as caught:
        run_streaming_profile(request, reporter=None)  # type: ignore[arg-type]
    assert "llm_sleeper" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"concurrencies": (0,)}, "--concurrency: whole numbers of at least 1"),
        ({"concurrencies": (), "request_rates": ()}, "at least one concurrency or request rate"),
        ({"request_rates": (0.0,)}, "--request-rate: positive"),
        ({"request_format": "openai"}, "--request-format: expected one of"),
        ({"models": ("a", "a")}, "listed twice"),
    ],
)
def test_streaming_requests_refuse_bad_options(change, message, tmp_path: Path):
    fields = {"models": ("m",), "model_repository": tmp_path, **change}
    with pytest.raises(InputError, match=message):
        StreamingProfileRequest(**fields)


# ---- the profile's streaming columns ------------------------------------------------------------


def _streaming_point(**change) -> ProfilePoint:
    values = dict(
        model="llm", batch_size=1, concurrency=4, throughput=7.4, latency_p50_ms=540.0, ttft_p50_ms=85.0,
        ttft_p90_ms=90.0, ttft_p99_ms=95.0, itl_p50_ms=30.0, itl_p90_ms=31.0, itl_p99_ms=40.0,
        tokens_per_s=118.0, input_tokens=64.0, output_tokens=16.0, weights_mb=106.0, kv_mb_per_sequence=32.1,
    )  # fmt: skip
    return ProfilePoint(**{**values, **change})


def test_streaming_columns_round_trip_and_classic_profiles_keep_their_header(tmp_path: Path):
    streaming = Profile(points=(_streaming_point(), _streaming_point(concurrency=1)))
    write_profile(streaming, tmp_path / "llm")
    assert read_profile(tmp_path / "llm").points == streaming.points
    header = (tmp_path / "llm" / PROFILE_CSV).read_text().splitlines()[0].split(",")
    assert STREAMING_ATTRS <= set(header)
    write_profile(Profile(points=(ProfilePoint("m", 1, 1, throughput=5.0),)), tmp_path / "classic")
    classic = (tmp_path / "classic" / PROFILE_CSV).read_text().splitlines()[0].split(",")
    assert not STREAMING_ATTRS & set(classic)


@pytest.mark.parametrize("column", sorted(STREAMING_ATTRS))
def test_a_corrupt_streaming_cell_is_refused_naming_its_column(column, tmp_path: Path):
    write_profile(Profile(points=(_streaming_point(),)), tmp_path)
    path = tmp_path / PROFILE_CSV
    lines = path.read_text().splitlines()
    cells = lines[1].split(",")
    cells[lines[0].split(",").index(column)] = "-1"
    path.write_text("\n".join([lines[0], ",".join(cells)]) + "\n")
    with pytest.raises(InputError, match=f"row 1 \\(model 'llm'\\): column '{column}'"):
        read_profile(tmp_path)
