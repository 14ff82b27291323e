"""Text for people: the progress line of a sweep and the final table (like the blog's Tables 1 and 2).

Pure functions from results to strings; the CLI does the printing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from tabulate import tabulate

from profiler.measure.sweep import Progress, load_text
from profiler.profiles.schema import POINT_COLUMNS, Profile, ProfilePoint, ServerBaseline

# (header, ProfilePoint attribute, decimals); measure columns empty for every row are left out.
TABLE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("MODEL", "model", 0),
    ("VARIANT", "variant", 0),
    ("BATCH", "batch_size", 0),
    ("CONCURRENCY", "concurrency", 0),
    ("REQUEST RATE (REQ/S)", "request_rate", 1),
    ("THROUGHPUT (INFER/S)", "throughput", 1),
    ("P50 (MS)", "latency_p50_ms", 2),
    ("P99 (MS)", "latency_p99_ms", 2),
    ("TTFT P50 (MS)", "ttft_p50_ms", 1),
    ("TTFT P99 (MS)", "ttft_p99_ms", 1),
    ("ITL P50 (MS)", "itl_p50_ms", 2),
    ("ITL P99 (MS)", "itl_p99_ms", 2),
    ("TOKENS/S", "tokens_per_s", 1),
    ("WEIGHTS (MB)", "weights_mb", 0),
    ("KV PER SEQUENCE (MB)", "kv_mb_per_sequence", 1),
    ("GPU UTIL (%)", "gpu_util_pct", 0),
    ("MEM UTIL (%)", "mem_util_pct", 0),
    ("SM ACTIVITY (%)", "sm_activity_pct", 0),
    ("GPU MEMORY (MB)", "memory_mb", 0),
    ("PROCESS GPU MEMORY (MB)", "process_memory_mb", 0),
    ("SERVER CPU (%)", "server_cpu_pct", 0),
    ("HOST MEMORY (MB)", "host_memory_mb", 0),
    ("DYNAMIC BATCHING", "dynamic_batching", 0),
    ("QUEUE DELAY (US)", "max_queue_delay_us", 0),
    ("MAX BATCH", "max_batch_size", 0),
    ("STABLE", "stable", 0),
    ("ERROR", "error", 0),
)
_ALWAYS = {"model", "batch_size", "concurrency", "throughput", "stable"}
_ERROR_WIDTH = 60


def _cell(value: object, decimals: int) -> object:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    if isinstance(value, str) and len(value) > _ERROR_WIDTH:
        return value[: _ERROR_WIDTH - 3] + "..."
    return value


def _columns(rows: Sequence[object], always: set[str]) -> list[tuple[str, str, int]]:
    return [
        column
        for column in TABLE_COLUMNS
        if column[1] in always or any(getattr(row, column[1], None) not in (None, "") for row in rows)
    ]


def _table(rows: Sequence[object], always: set[str]) -> str:
    columns = _columns(rows, always)
    cells = [[_cell(getattr(row, attr), dec) for _, attr, dec in columns] for row in rows]
    align = ["left" if attr in ("model", "error", "stable") else "right" for _, attr, _ in columns]
    return tabulate(cells, headers=[name for name, _, _ in columns], disable_numparse=True, colalign=align)


def points_table(points: Sequence[ProfilePoint]) -> str:
    """One row per point, in profile order (the blog's Table 2 with latency and CPU columns)."""
    return _table(points, _ALWAYS)


def server_table(server: ServerBaseline) -> str:
    """The server alone, no model loaded (the blog's Table 1)."""
    if not any(getattr(server, attr, None) is not None for _, attr, _ in TABLE_COLUMNS):
        return "(nothing measured)"
    return _table([server], set())


def profile_report(profile: Profile, summary: str) -> str:
    """The final report: the server alone, the points, a one-line summary."""
    return "\n".join(
        [
            "Server alone (no model loaded):",
            server_table(profile.server),
            "",
            "Models:",
            points_table(profile.points),
            "",
            summary,
        ]
    )


def profile_json(profile: Profile, summary: dict[str, object]) -> str:
    """The same as JSON: metadata, server, points (with the CSV's column names), and the summary."""
    points = [{c.name: getattr(p, c.attr) for c in POINT_COLUMNS} for p in profile.points]
    server = {
        c.name: getattr(profile.server, c.attr) for c in POINT_COLUMNS if hasattr(profile.server, c.attr)
    }
    return json.dumps(
        {
            "metadata": dataclasses.asdict(profile.metadata),
            "server": server,
            "points": points,
            "summary": summary,
        },
        indent=2,
    )


def clock(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration in seconds; ``?`` when unknown."""
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(event: Progress) -> str:
    """``[3/12] sleepy batch 2 concurrency 4: 97.3 infer/s, p50 41.2 ms | elapsed 0:25, ETA 1:15``."""
    p = event.point
    if p.ok:
        what = f"{p.throughput:.1f} infer/s, p50 {p.latency_p50_ms:.1f} ms" + (
            "" if p.stable else " (unstable)"
        )
    else:
        what = "failed: " + _cell(p.error, 0)
    model = f"{p.model} ({p.variant})" if p.variant else p.model
    return (
        f"[{event.done}/{event.total}] {model} batch {p.batch_size} "
        f"{load_text(p.concurrency, p.request_rate)}: {what}"
        f" | elapsed {clock(event.elapsed_s)}, ETA {clock(event.eta_s)}"
    )
