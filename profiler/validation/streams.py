"""Validating a streaming (LLM) model: its requests, how long its stream runs, its promised-vs-measured.

A streaming model of the plan (``PlannedModel.streaming``) is driven over gRPC streaming
(``measure.streaming.driver``) at its planned concurrency, with prompts and output lengths of the
token lengths its point was profiled with, beside the GPU's other models. Its stream measures
``STREAM_WINDOWS`` of the classic measurement windows after the same warm-up, so the two overlap.
"""

from __future__ import annotations

import dataclasses
import random

from tritonclient.grpc import model_config_pb2

from profiler.base.plan_dir import PlannedModel
from profiler.measure.loadgen import MeasureSettings
from profiler.measure.streaming.driver import StreamMeasurement, StreamSettings
from profiler.measure.streaming.formats import TensorValue, detect_format, synthetic_requests
from profiler.measure.streaming.tokens import summarize_stream
from profiler.validation.records import ModelCheck, StreamingCheck

# A stable classic point takes at least 3 windows: the stream measures as long.
STREAM_WINDOWS = 3
# Distinct prompts per model, sent in turn (seeded by the model's name: a rerun sends the same).
PROMPTS = 32
# As the profile: fewer complete requests than this and the percentiles are marked unstable.
MIN_STABLE_REQUESTS = 3


def stream_settings(settings: MeasureSettings) -> StreamSettings:
    """The stream's window, warm-up and timeout from the classic measurement settings."""
    return StreamSettings(
        duration_s=STREAM_WINDOWS * settings.window_s,
        warmup_s=settings.warmup_s,
        request_timeout_s=settings.request_timeout_s,
    )


def stream_requests(
    model: PlannedModel, config: model_config_pb2.ModelConfig
) -> tuple[tuple[TensorValue, ...], ...]:
    """``PROMPTS`` requests of the planned point's token lengths, in the model's request format.

    Raises:
        InputError: the model is not decoupled, or its inputs match no known format.

    """
    fmt = detect_format(model.name, config)
    lengths = [(max(1, round(model.input_tokens or 1)), max(1, round(model.output_tokens or 1)))] * PROMPTS
    return synthetic_requests(fmt, config, lengths, random.Random(f"validate:{model.name}"))


def stream_check(
    model: PlannedModel, measured: StreamMeasurement | None, error: str
) -> tuple[ModelCheck, tuple[float, float] | None]:
    """The model's check and its measured window (``None`` when nothing was measured)."""
    promised = StreamingCheck(model.tokens_per_s or 0.0, model.ttft_p99_ms, model.itl_p99_ms)
    check = ModelCheck(
        model.name, model.batch_size, model.concurrency, model.throughput,
        tokens=promised, request_rate=model.request_rate,
    )  # fmt: skip
    error = error or (measured.error if measured is not None else "not measured")
    if error or measured is None:
        return dataclasses.replace(check, error=error), None
    try:
        s = summarize_stream(measured.timings, measured.start, measured.end)
    except ValueError as exc:
        return dataclasses.replace(check, error=f"{exc}: requests take longer than the stream's window"), None
    tokens = StreamingCheck(
        promised.promised_tokens_per_s,
        promised.promised_ttft_p99_ms,
        promised.promised_itl_p99_ms,
        measured_tokens_per_s=s.tokens_per_s,
        ttft_p50_ms=s.ttft_ms[50],
        ttft_p99_ms=s.ttft_ms[99],
        itl_p50_ms=s.itl_ms.get(50),
        itl_p99_ms=s.itl_ms.get(99),
    )
    check = dataclasses.replace(
        check,
        measured_throughput=s.requests_per_s,
        p50_ms=s.latency_ms[50],
        p99_ms=s.latency_ms[99],
        stable=s.requests >= MIN_STABLE_REQUESTS,
        tokens=tokens,
    )
    return check, (measured.start, measured.end)
