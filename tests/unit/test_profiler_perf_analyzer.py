"""perf_analyzer's report and the library folder it needs (no perf_analyzer run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.base.errors import InputError
from profiler.measure.perf_analyzer import find_perf_analyzer, library_folder, parse_report

# perf_analyzer 2.51 -f report for the identity model at batch 2, concurrency 2 (latencies in us)
REPORT = """\
Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,\
Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency
2,9654.89,1,124,107,7,99,68,0,397,466,494,572
"""


def test_report_gives_throughput_and_latency_percentiles():
    row = parse_report(REPORT)
    assert row["Inferences/Second"] == 9654.89
    assert (row["p50 latency"], row["p99 latency"]) == (397.0, 572.0)
    with pytest.raises(ValueError, match="empty report"):
        parse_report(REPORT.splitlines()[0])


def test_library_folder_links_the_plain_names_to_hashed_copies(tmp_path: Path):
    libs = tmp_path / "nvidia_pytriton.libs"
    libs.mkdir()
    (libs / "libb64-98cb6333.so.0d").write_text("")
    (libs / "libcudart-09529672.so.12.6.77").write_text("")
    folder = library_folder(tmp_path / "work", [tmp_path / "missing", libs])
    assert (folder / "libb64.so.0d").resolve() == libs / "libb64-98cb6333.so.0d"
    assert (folder / "libcudart.so.12").resolve() == libs / "libcudart-09529672.so.12.6.77"
    assert library_folder(tmp_path / "other", [tmp_path / "missing"]) is None


def test_a_perf_analyzer_that_is_not_an_executable_is_refused(tmp_path: Path):
    with pytest.raises(InputError, match="not an executable file"):
        find_perf_analyzer(tmp_path / "perf_analyzer")
