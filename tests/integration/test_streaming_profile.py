"""Streaming (LLM) profiles against a real tritonserver: llm_sleeper's figures against its theory."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from profiler_support import EXAMPLES

from profiler.measure.streaming.driver import StreamSettings
from profiler.measure.streaming.request import StreamingProfileRequest
from profiler.measure.streaming.run import run_streaming_profile
from profiler.measure.streaming.tokens import TokenLength
from profiler.profiles.profile_io import read_profile

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

INPUT_TOKENS, OUTPUT_TOKENS = 64, 16
# Short points keep the test well under a minute on a loaded 2-core host; theory within 10 % even so.
FAST = StreamSettings(duration_s=3.0, warmup_s=0.5, request_timeout_s=30.0)
TOLERANCE = 0.10
# TensorRT-LLM's inputs (text_input, max_tokens INT32, stream) in place of the vLLM backend's.
TRTLLM_INPUTS = """input [
  { name: "text_input", data_type: TYPE_STRING, dims: [ 1 ] },
  { name: "max_tokens", data_type: TYPE_INT32, dims: [ 1 ] },
  { name: "stream", data_type: TYPE_BOOL, dims: [ 1 ], optional: true }
]"""


class Reporter:
    def __init__(self) -> None:
        self.events = []
        self.notices = []

    def progress(self, event) -> None:
        self.events.append(event)

    def notice(self, message: str) -> None:
        self.notices.append(message)


def _parameters() -> dict[str, float]:
    config = (EXAMPLES / "llm_sleeper" / "config.pbtxt").read_text()
    return {k: float(v) for k, v in re.findall(r'key: "(\w+)", value: \{ string_value: "([0-9.]+)"', config)}


def _add_models(repository: Path) -> None:
    shutil.copytree(EXAMPLES / "llm_sleeper", repository / "llm_sleeper")
    shutil.copytree(EXAMPLES / "llm_sleeper", repository / "llm_trtllm")
    config = repository / "llm_trtllm" / "config.pbtxt"
    text = config.read_text()
    config.write_text(text[: text.index("input [")] + TRTLLM_INPUTS + text[text.index("\noutput [") :])


def test_streaming_profile_matches_theory_at_concurrency_1_and_4(repository: Path, tmp_path: Path):
    # llm_sleeper serves every sequence in its own thread: TTFT = prefill, ITL = token time, and
    # c * n_out / latency tokens/s at concurrency c; it holds kv_mb_per_sequence per sequence in flight.
    p = _parameters()
    ttft = p["prefill_ms"] + p["prefill_ms_per_token"] * INPUT_TOKENS
    itl = p["token_time_ms"]
    latency_s = (ttft + (OUTPUT_TOKENS - 1) * itl) / 1000
    _add_models(repository)
    output = tmp_path / "profile"
    request = StreamingProfileRequest(
        models=("llm_sleeper", "llm_trtllm"),
        model_repository=repository,
        output=output,
        input_tokens=TokenLength(INPUT_TOKENS, INPUT_TOKENS),
        output_tokens=TokenLength(OUTPUT_TOKENS, OUTPUT_TOKENS),
        concurrencies=(1, 4),
        settings=FAST,
    )
    reporter = Reporter()
    result = run_streaming_profile(request, reporter)
    assert not result.interrupted and [e.done for e in reporter.events] == [1, 2, 3, 4]

    written = read_profile(output)
    keys = [(p.model, p.concurrency) for p in written.points]
    assert keys == [(m, c) for m in ("llm_sleeper", "llm_trtllm") for c in (1, 4)]
    assert written.metadata.load_generator.startswith("gpupack streaming")
    for point in written.points:
        assert point.ok, point.error
        where = f"{point.model} at concurrency {point.concurrency}"
        assert point.ttft_p50_ms == pytest.approx(ttft, rel=TOLERANCE), where
        assert point.itl_p50_ms == pytest.approx(itl, rel=TOLERANCE), where
        tokens_per_s = point.concurrency * OUTPUT_TOKENS / latency_s
        assert point.tokens_per_s == pytest.approx(tokens_per_s, rel=TOLERANCE), where
        assert point.throughput == pytest.approx(point.concurrency / latency_s, rel=TOLERANCE), where
        assert point.latency_p50_ms == pytest.approx(latency_s * 1000, rel=TOLERANCE), where
        assert point.ttft_p50_ms <= point.ttft_p90_ms <= point.ttft_p99_ms
        assert point.itl_p50_ms <= point.itl_p90_ms <= point.itl_p99_ms
        assert point.output_tokens == OUTPUT_TOKENS and point.input_tokens == INPUT_TOKENS
        # Memory: the fitted slope is the memory per sequence; the weights at least the model's.
        assert point.kv_mb_per_sequence == pytest.approx(p["kv_mb_per_sequence"], rel=TOLERANCE), where
        assert point.weights_mb >= p["weights_mb"]
    assert set(result.fits) == {"llm_sleeper", "llm_trtllm"}
    assert any("no GPU readings" in n for n in reporter.notices)
