"""Validating streaming (LLM) models: tokens/s, TTFT and ITL promised against measured (recorded timings)."""

from __future__ import annotations

import csv
import io
import json

from profiler.base.plan_dir import PlannedModel
from profiler.measure.streaming.driver import StreamMeasurement
from profiler.measure.streaming.tokens import RequestTiming
from profiler.validation.records import GpuCheck, ModelCheck, StreamingCheck, ValidationResult
from profiler.validation.report import models_table, validation_csv, validation_json
from profiler.validation.streams import stream_check

PLANNED = PlannedModel(
    "llm", 1, 2, 7.6, tokens_per_s=61.0, ttft_p99_ms=56.0, itl_p99_ms=34.0, input_tokens=16, output_tokens=8
)


def _timings(requests: int, ttft_s: float, itl_s: float, tokens: int, concurrency: int) -> tuple:
    """llm_sleeper's theory as recorded timings: each worker sends the next request at once."""
    timings = []
    for _worker in range(concurrency):
        sent = 0.0
        for _ in range(requests):
            stamps = tuple(sent + ttft_s + k * itl_s for k in range(tokens))
            timings.append(RequestTiming(sent=sent, tokens=stamps, done=stamps[-1]))
            sent = stamps[-1]
    return tuple(timings)


def test_a_streaming_model_check_recovers_tokens_per_s_ttft_and_itl_from_timings():
    timings = _timings(20, 0.052, 0.030, 8, 2)  # latency 0.262 s: 2 × 8 / 0.262 = 61.1 tokens/s
    check, window = stream_check(PLANNED, StreamMeasurement(timings, 0.0, 5.0, 0.0), "")
    assert window == (0.0, 5.0) and not check.error and check.stable
    assert abs(check.tokens.measured_tokens_per_s - 61.07) < 1.5
    assert abs(check.tokens.ttft_p99_ms - 52.0) < 0.1 and abs(check.tokens.itl_p99_ms - 30.0) < 0.1
    assert abs(check.measured_throughput - 7.63) < 0.2
    assert not check.short(0.9)


def test_a_streaming_model_short_on_tokens_falls_short_even_when_requests_hold():
    tokens = StreamingCheck(100.0, measured_tokens_per_s=50.0)
    assert ModelCheck("llm", 1, 2, 7.6, measured_throughput=7.6, tokens=tokens).short(0.9)
    failed, window = stream_check(PLANNED, StreamMeasurement(error="inference failed: boom"), "")
    assert failed.error == "inference failed: boom" and window is None and failed.short(0.9)


def test_validation_outputs_carry_the_token_columns_for_streaming_models_only():
    llm, _ = stream_check(PLANNED, StreamMeasurement(_timings(20, 0.052, 0.030, 8, 2), 0.0, 5.0, 0.0), "")
    classic = ModelCheck("sleepy", 1, 1, 47.0, measured_throughput=47.0, stable=True)
    result = ValidationResult("dep", 0.9, (GpuCheck(0, "0", 250.0, (llm, classic)),), "one at a time", "cpu")
    models = json.loads(validation_json(result))["gpus"][0]["models"]
    assert models[0]["promised_tokens_per_s"] == 61.0 and models[0]["tokens_ratio"] > 0.97
    assert "promised_tokens_per_s" not in models[1]
    rows = list(csv.DictReader(io.StringIO(validation_csv(result))))
    assert rows[0]["measured_tokens_per_s"] and rows[1]["measured_tokens_per_s"] == ""
    table = models_table(result)
    assert "MEASURED (TOKENS/S)" in table and "TTFT P99 (MS)" in table
