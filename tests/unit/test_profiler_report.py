"""The progress line and the final table."""

from __future__ import annotations

from profiler.measure.report import points_table, profile_json, profile_report, progress_line, server_table
from profiler.measure.sweep import Progress
from profiler.profiles.schema import Profile, ProfilePoint, ServerBaseline

MEASURED = ProfilePoint(
    "sleepy", 2, 4, throughput=97.31, latency_p50_ms=82.5, latency_p99_ms=84.0, stable=False
)
FAILED = ProfilePoint("broken", 1, 1, stable=False, error="failed to load: RuntimeError: on purpose")


def test_progress_line_shows_the_point_its_result_and_the_eta():
    line = progress_line(Progress(3, 12, MEASURED, elapsed_s=25.0, eta_s=75.0))
    assert line == (
        "[3/12] sleepy batch 2 concurrency 4: 97.3 infer/s, p50 82.5 ms (unstable) | elapsed 0:25, ETA 1:15"
    )
    failed = progress_line(Progress(1, 2, FAILED, elapsed_s=3725.0, eta_s=None))
    assert "failed: failed to load: RuntimeError" in failed and failed.endswith("elapsed 1:02:05, ETA ?")


def test_table_has_uppercase_headers_with_units_and_leaves_out_empty_measures():
    table = points_table([MEASURED, FAILED])
    header = table.splitlines()[0]
    for name in (
        "MODEL",
        "BATCH",
        "CONCURRENCY",
        "THROUGHPUT (INFER/S)",
        "P50 (MS)",
        "P99 (MS)",
        "STABLE",
        "ERROR",
    ):
        assert name in header
    assert "GPU MEMORY (MB)" not in header and "SERVER CPU (%)" not in header
    assert "97.3" in table and "82.50" in table


def test_server_table_and_full_report():
    assert server_table(ServerBaseline()) == "(nothing measured)"
    assert "GPU MEMORY (MB)" in server_table(ServerBaseline(memory_mb=309.0))
    report = profile_report(Profile(points=(MEASURED,), server=ServerBaseline(memory_mb=309.0)), "1 point")
    assert report.startswith("Server alone (no model loaded):") and report.endswith("1 point")
    assert '"throughput_infer_per_sec": 97.31' in profile_json(Profile(points=(MEASURED,)), {"measured": 1})
