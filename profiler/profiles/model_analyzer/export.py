"""Model Analyzer 1.x CSV exports: ``metrics-model-inference.csv``, ``-gpu.csv``, ``server-only``.

``model-analyzer report``/``profile`` writes them under ``results/`` (the test data's copies are
named ``golden-metrics-*.csv``). The inference file has one row per measured (model, batch,
concurrency or request rate, config variant) with throughput and latency; the GPU file the same
keys plus ``GPU UUID`` with memory and utilization; the server-only file the server with no model.
Rows are joined on model, batch, concurrency (or request rate) and config. Multi-model rows hold
comma-separated lists in one cell (``"a,b"``) and per-model results as ``"total, [a,b]"``.

A CPU-only run writes no GPU file (and no server-only file). Its RAM, Model Analyzer's
``cpu_used_ram``, is a column of the inference file, "RAM Usage (MB)", only when the run lists it in
``inference_output_fields`` (and ``collect_cpu_metrics`` is on). An export with no GPU file is a
CPU-only run when it has that column or when every instance group is ``CPU``.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from profiler.base.errors import InputError
from profiler.profiles.model_analyzer.records import (
    LOAD_GENERATOR,
    Measurement,
    ModelLoad,
    instance_count,
    to_profile,
)
from profiler.profiles.schema import Profile, ProfileMetadata, ServerBaseline

INFERENCE = "metrics-model-inference.csv"
GPU = "metrics-model-gpu.csv"
SERVER = "metrics-server-only.csv"
# Model Analyzer's column headers (record types' ``header()``) -> our names. Others are ignored.
_RESULTS = {
    "Throughput (infer/sec)": "throughput",
    "p99 Latency (ms)": "latency_p99_ms",
    "p95 Latency (ms)": "latency_p95_ms",
    "p90 Latency (ms)": "latency_p90_ms",
}
_MEMORY = "GPU Memory Usage (MB)"
_UTIL = "GPU Utilization (%)"
_FREE = "GPU Free Memory (MB)"
_RAM = "RAM Usage (MB)"  # cpu_used_ram's header
_REQUIRED = ("Model", "Batch", "Model Config Path", "Throughput (infer/sec)")
_LIST = re.compile(r"^\s*([^,\[]*?)\s*,\s*\[(.*)\]\s*$")


def sibling(path: Path, kind: str) -> Path:
    """The file of ``kind`` (e.g. ``metrics-model-gpu.csv``) beside ``path``, with its name prefix."""
    prefix = path.name[: -len(INFERENCE)] if path.name.endswith(INFERENCE) else ""
    return path.with_name(prefix + kind)


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    header = [h.strip() for h in reader.fieldnames or []]
    return header, [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]


def _split(cell: str, count: int) -> list[str]:
    """Per-model values of a cell: ``"a,b"`` or ``"total, [a,b]"``; one model takes the cell whole."""
    if count == 1:
        match = _LIST.match(cell)
        return [match.group(1) if match else cell]
    match = _LIST.match(cell)
    parts = (match.group(2) if match else cell).split(",")
    return [p.strip() for p in parts]


def _number(where: str, column: str, text: str) -> float | None:
    if text == "" or text.lower() in ("nan", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{where}: column {column!r}: expected a number, got {text!r}") from None


def _load(where: str, row: dict[str, str], k: int, count: int, rate: bool) -> ModelLoad:
    def cell(column: str) -> str:
        values = _split(row.get(column, ""), count)
        if len(values) != count:
            raise InputError(f"{where}: column {column!r} has {len(values)} values for {count} models")
        return values[k]

    load = cell("Request Rate" if rate else "Concurrency")
    results = {attr: _number(where, col, cell(col)) for col, attr in _RESULTS.items() if col in row}
    satisfies = row.get("Satisfies Constraints", "").lower()
    max_batch = _number(where, "Max Batch Size", cell("Max Batch Size")) if "Max Batch Size" in row else None
    return ModelLoad(
        model=cell("Model"),
        variant=cell("Model Config Path"),
        batch_size=int(_number(where, "Batch", cell("Batch")) or 1),
        concurrency=None if rate else int(_number(where, "Concurrency", load) or 0),
        request_rate=_number(where, "Request Rate", load) if rate else None,
        instance_count=instance_count(cell("Instance Group")) if "Instance Group" in row else 1,
        satisfies_constraints=None if not satisfies else satisfies == "yes",
        max_batch_size=int(max_batch) if max_batch else None,
        **results,
    )


def _ram(where: str, row: dict[str, str], count: int) -> float | None:
    """The run's RAM (the server process's, one reading): the largest of a multi-model row's values."""
    if _RAM not in row:
        return None
    values = [_number(where, _RAM, v) for v in _split(row[_RAM], count)]
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _cpu_instances_only(rows: list[dict[str, str]]) -> bool:
    """True when every row's instance groups (``1:CPU``, ``2:CPU/1:CPU``, ``a,b`` lists) are CPU ones."""
    groups = [
        part for r in rows for cell in r.get("Instance Group", "").split(",") for part in cell.split("/")
    ]
    return bool(rows) and all(part.strip().upper().endswith(":CPU") for part in groups)


def _key(row: dict[str, str], rate: bool) -> tuple[str, ...]:
    load = "Request Rate" if rate else "Concurrency"
    return tuple(row.get(c, "") for c in ("Model", "Batch", load, "Model Config Path"))


def _gpu_readings(path: Path, rate: bool) -> dict[tuple[str, ...], tuple[float | None, float | None]]:
    """(memory MB, utilization %) per join key; refuses a run measured on several GPUs."""
    if not path.exists():
        return {}
    _, rows = _rows(path)
    readings: dict[tuple[str, ...], tuple[float | None, float | None]] = {}
    gpus: dict[tuple[str, ...], set[str]] = {}
    for i, row in enumerate(rows, start=1):
        key = _key(row, rate)
        gpus.setdefault(key, set()).add(row.get("GPU UUID", ""))
        if len(gpus[key]) > 1:
            raise InputError(
                f"{path} row {i} (model {row.get('Model')!r}): measured on {len(gpus[key])} GPUs at once; "
                "gpupack packs single-GPU measurements",
                "profile with Model Analyzer's --gpus set to one GPU",
            )
        where = f"{path} row {i}"
        memory = _number(where, _MEMORY, row.get(_MEMORY, ""))
        readings[key] = (memory, _number(where, _UTIL, row.get(_UTIL, "")))
    return readings


def _server(path: Path) -> tuple[ServerBaseline, float | None]:
    """The server alone (the largest reading over its rows) and the GPU's memory if the file says."""
    if not path.exists():
        return ServerBaseline(), None
    _, rows = _rows(path)
    where = str(path)
    memory = [_number(where, _MEMORY, r.get(_MEMORY, "")) for r in rows]
    util = [_number(where, _UTIL, r.get(_UTIL, "")) for r in rows]
    free = [_number(where, _FREE, r.get(_FREE, "")) for r in rows]
    known = [m for m in memory if m is not None]
    total = known[0] + free[0] if known and free and free[0] is not None else None
    return (
        ServerBaseline(
            memory_mb=max(known, default=None),
            gpu_util_pct=max((u for u in util if u is not None), default=None),
        ),
        total,
    )


def read_export(inference: Path) -> Profile:
    """Read the export whose inference file is ``inference`` (siblings found by name)."""
    if not inference.is_file():
        raise InputError(
            f"{inference}: no such file; a Model Analyzer export is read from its {INFERENCE}",
            "export with `model-analyzer report` or give the checkpoint (checkpoints/N.ckpt)",
        )
    header, rows = _rows(inference)
    missing = [c for c in _REQUIRED if c not in header]
    rate = "Request Rate" in header
    if "Concurrency" not in header and not rate:
        missing.append("Concurrency")
    if missing:
        raise InputError(f"{inference}: missing Model Analyzer column {missing[0]!r}")
    if not rows:
        raise InputError(f"{inference}: no rows")
    readings = _gpu_readings(sibling(inference, GPU), rate)
    measurements = []
    for i, row in enumerate(rows, start=1):
        where = f"{inference} row {i} (model {row.get('Model')!r})"
        count = len(row["Model"].split(","))
        memory, util = readings.get(_key(row, rate), (None, None))
        loads = tuple(_load(where, row, k, count, rate) for k in range(count))
        measurements.append(Measurement(loads, memory, util, _ram(where, row, count)))
    server, total = _server(sibling(inference, SERVER))
    cpu_only = not readings and (_RAM in header or _cpu_instances_only(rows))
    notes = []
    if not readings and not cpu_only:
        gpu_file = sibling(inference, GPU).name
        notes.append(f"{inference}: no {gpu_file} beside it: no GPU memory or utilization")
    metadata = ProfileMetadata(
        device="cpu" if cpu_only else "gpu", gpu_memory_mb=total, load_generator=LOAD_GENERATOR
    )
    return to_profile(measurements, server, metadata, str(inference), notes=tuple(notes))
