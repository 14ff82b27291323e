"""A synthetic GPU profile of two streaming (LLM) models and one classic model, for planning tests.

Figures follow llm_sleeper's theory: a streaming model at concurrency c holds ``weights + c × kv`` MB
(its measured peak, server included, is that plus the server's 300 MB), serves ``c × rate`` requests/s
and ``c × rate × 16`` output tokens/s, and its TTFT grows with c (prefills queue).
"""

from __future__ import annotations

from pathlib import Path

from profiler.profiles.profile_io import write_profile
from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint, ServerBaseline

SERVER_MB = 300.0
GPU_MB = 16000.0
OUTPUT_TOKENS = 16
# model: (weights MB, KV MB per sequence, requests/s per sequence)
LLMS = {"llm_a": (4000.0, 500.0, 1.6), "llm_b": (3000.0, 800.0, 2.0)}
CONCURRENCIES = (1, 2, 4, 8)


def llm_point(model: str, c: int) -> ProfilePoint:
    weights, kv, rate = LLMS[model]
    return ProfilePoint(
        model,
        1,
        c,
        throughput=c * rate,
        latency_p50_ms=600.0,
        latency_p99_ms=620.0 + 20 * c,
        ttft_p50_ms=150.0 + 25 * c,
        ttft_p90_ms=150.0 + 30 * c,
        ttft_p99_ms=150.0 + 40 * c,
        itl_p50_ms=30.0,
        itl_p90_ms=31.0,
        itl_p99_ms=30.0 + c,
        tokens_per_s=c * rate * OUTPUT_TOKENS,
        input_tokens=64.0,
        output_tokens=float(OUTPUT_TOKENS),
        memory_mb=SERVER_MB + weights + c * kv + 50.0,  # a measured peak: a little above the fit
        gpu_util_pct=10.0 * c,
        weights_mb=weights,
        kv_mb_per_sequence=kv,
    )


def llm_profile() -> Profile:
    points = [llm_point(m, c) for m in LLMS for c in CONCURRENCIES]
    points += [
        ProfilePoint(
            "sleepy",
            1,
            c,
            throughput=50.0 * c,
            latency_p99_ms=25.0,
            memory_mb=SERVER_MB + 1000,
            gpu_util_pct=20.0,
        )
        for c in (1, 2)
    ]
    return Profile(
        points=tuple(points),
        server=ServerBaseline(memory_mb=SERVER_MB, gpu_util_pct=0.0),
        metadata=ProfileMetadata(device="gpu", gpu_name="test", gpu_memory_mb=GPU_MB),
    )


def write_llm_profile(directory: Path) -> Path:
    write_profile(llm_profile(), directory)
    return directory
