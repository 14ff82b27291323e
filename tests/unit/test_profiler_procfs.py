"""Reading CPU time and RSS of the server's process tree from /proc."""

from __future__ import annotations

import os
from pathlib import Path

from profiler.server.procfs import TreeUsage, parse_stat, process_tree

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int, ppid: int, name: str, utime: int, stime: int, rss_pages: int, start: int = 100) -> str:
    fields = ["S", ppid, pid, pid, 0, -1, 0, 0, 0, 0, 0, utime, stime, 0, 0, 20, 0, 1, 0, start, 0, rss_pages]
    return f"{pid} ({name}) " + " ".join(map(str, fields)) + " 0 0 0\n"


def _fake_proc(root: Path, stats: dict[int, str]) -> Path:
    for pid, text in stats.items():
        (root / str(pid)).mkdir(parents=True, exist_ok=True)
        (root / str(pid) / "stat").write_text(text)
    (root / "self").mkdir(exist_ok=True)
    return root


def test_parse_stat_handles_command_names_with_spaces_and_parentheses():
    stat = parse_stat(_stat(42, 7, "triton (python) stub", utime=3 * TICKS, stime=TICKS, rss_pages=256))
    assert (stat.pid, stat.ppid, stat.start_ticks) == (42, 7, 100)
    assert stat.cpu_seconds == 4.0 and stat.rss_bytes == 256 * PAGE


def test_process_tree_is_the_root_and_its_descendants(tmp_path: Path):
    proc = _fake_proc(
        tmp_path,
        {
            10: _stat(10, 1, "tritonserver", 0, 0, 1),
            11: _stat(11, 10, "stub", 0, 0, 1),
            12: _stat(12, 11, "grandchild", 0, 0, 1),
            13: _stat(13, 1, "other", 0, 0, 1),
        },
    )
    assert sorted(s.pid for s in process_tree(10, proc)) == [10, 11, 12]
    assert process_tree(99, proc) == []


def test_tree_usage_keeps_the_cpu_time_of_a_stub_that_exited(tmp_path: Path):
    proc = _fake_proc(
        tmp_path,
        {10: _stat(10, 1, "tritonserver", TICKS, 0, 100), 11: _stat(11, 10, "stub", 2 * TICKS, 0, 50)},
    )
    usage = TreeUsage(10, proc)
    first = usage.sample(1.0)
    assert first.cpu_seconds == 3.0 and first.rss_mb == 150 * PAGE / 1e6 and first.pids == (10, 11)
    (proc / "11" / "stat").unlink()  # the model was unloaded
    (proc / "10" / "stat").write_text(_stat(10, 1, "tritonserver", 2 * TICKS, 0, 100))
    second = usage.sample(2.0)
    assert second.cpu_seconds == 4.0 and second.pids == (10,)
    (proc / "10" / "stat").unlink()
    assert usage.sample(3.0) is None


def test_tree_usage_reads_this_very_process_from_the_real_proc():
    sample = TreeUsage(os.getpid()).sample(0.0)
    assert sample is not None and os.getpid() in sample.pids
    assert sample.rss_mb > 1 and sample.cpu_seconds > 0
