"""Read and write profiles: gpupack's own directory format and Model Analyzer's 2020 export.

Every read error is an ``InputError`` naming the file, the row (1 = first data row), the model and
the column: every number finite and within its column's range, every bool one of true/false/1/0/
yes/no, as many cells in each row as in the header. Writes are atomic (``files.write_atomic``), so a
crash never leaves half a file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from profiler.base.errors import InputError, did_you_mean
from profiler.base.files import read_text, write_atomic
from profiler.base.schema_version import KEY as SCHEMA_KEY
from profiler.base.schema_version import check_schema_version, versioned
from profiler.profiles import model_analyzer
from profiler.profiles.schema import (
    LIMITS,
    MAX_COUNT,
    METADATA_JSON,
    POINT_COLUMNS,
    PROFILE_CSV,
    SERVER_COLUMNS,
    SERVER_CSV,
    STREAMING_ATTRS,
    Column,
    Profile,
    ProfileMetadata,
    ProfilePoint,
    ServerBaseline,
    model_name_problem,
)

MA_MODEL_CSV = "metrics-model.csv"
MA_SERVER_CSV = "metrics-server-only.csv"
# Model Analyzer (2020) export header -> our column; _MaxBar1(MB) (BAR1 memory) is not used.
MA_COLUMNS = {
    "Model": "model",
    "Batch": "batch_size",
    "Concurrency": "concurrency",
    "Throughput": "throughput_infer_per_sec",
    "MaxMemoryUtil(%)": "max_memory_utilization_pct",
    "MaxGpuUtil(%)": "max_gpu_utilization_pct",
    "_MaxBar1(MB)": None,
    "MaxFramebuffer(MB)": "max_gpu_memory_mb",
}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
# "nan" is how pandas (and Model Analyzer) write an empty cell.
_EMPTY = {"", "nan"}
# A cell longer than this is no value of ours (the csv module's own limit is 128 KiB).
MAX_CELL_CHARS = 10_000


def _parse_number(column: Column, text: str) -> float | int:
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text[:40]!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {text[:40]!r}")
    if column.kind is int:
        # Concurrency 0 is an open-loop load (with a request rate); the point itself checks that.
        low = column.least
        if not (number.is_integer() and low <= number <= MAX_COUNT):
            raise ValueError(f"expected a whole number within {low}-{MAX_COUNT}, got {text[:40]!r}")
        return int(number)
    limit = LIMITS.get(column.attr, math.inf)
    if not 0 <= number <= limit:
        raise ValueError(f"expected a number within 0-{limit:g}, got {text[:40]!r}")
    return number


def _parse_cell(column: Column, text: str) -> object:
    text = text.strip()
    if column.kind is str:
        return text
    if text.lower() in _EMPTY:
        return None
    if column.kind is bool:
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"expected true, false, yes, no, 1 or 0, got {text[:40]!r}")
    return _parse_number(column, text)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of a CSV file; every row has exactly the header's cells.

    Raises:
        InputError: not a UTF-8 regular file, not valid CSV, no header, a duplicated column, a row
            with more or fewer cells than the header, a cell longer than ``MAX_CELL_CHARS``.

    """
    text = read_text(path)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InputError(f"{path}: not a valid CSV file ({exc})") from None
    records = [r for r in records if r and r != [""] and not (len(r) == 1 and not r[0].strip())]
    if not records:
        raise InputError(f"{path}: empty file, expected a CSV header")
    header = [h.strip() for h in records[0]]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise InputError(f"{path}: column {duplicates[0]!r} appears twice in the header")
    rows = []
    for index, record in enumerate(records[1:], start=1):
        if len(record) != len(header):
            raise InputError(
                f"{path} row {index}: {len(record)} cells, but the header has {len(header)} columns"
            )
        # One pass in C for the common case; the long cell is looked for only when there is one.
        long = max(record, key=len) if max(map(len, record)) > MAX_CELL_CHARS else None
        if long is not None:
            raise InputError(
                f"{path} row {index}: a cell of {len(long)} characters, more than {MAX_CELL_CHARS}"
            )
        rows.append(dict(zip(header, record, strict=True)))
    return header, rows


def _check_header(path: Path, header: list[str], columns: tuple[Column, ...]) -> None:
    known = [c.name for c in columns]
    for name in header:
        if name not in known:
            hint = did_you_mean(name, known, f"known columns: {', '.join(known)}")
            raise InputError(f"{path}: unknown column {name!r}", hint)
    for column in columns:
        if column.required and column.name not in header:
            raise InputError(f"{path}: missing column {column.name!r} ({column.doc})")


def _where(path: Path, index: int, row: dict[str, str]) -> str:
    """``PATH row N (model 'name')``: where a bad cell is (made only for an error: rows are many)."""
    return f"{path} row {index}" + (f" (model {row['model'][:60]!r})" if row.get("model") else "")


def _row_values(path: Path, index: int, row: dict[str, str], columns: tuple[Column, ...]) -> dict:
    values = {}
    for column in columns:
        text = row.get(column.name)
        # An absent or empty optional cell is the record's default: nothing to parse (most cells of a
        # large profile are such, and they dominate its reading time).
        if text is None or (not text and not column.required):
            continue
        try:
            values[column.attr] = _parse_cell(column, text)
        except ValueError as exc:
            raise InputError(f"{_where(path, index, row)}: column {column.name!r}: {exc}") from None
        if column.attr == "model" and values["model"]:
            problem = model_name_problem(values["model"])
            if problem:
                raise InputError(f"{path} row {index}: column 'model': {problem}")
        if column.required and values[column.attr] in (None, ""):
            if column.attr == "throughput" and row.get("error", "").strip():
                continue
            raise InputError(f"{_where(path, index, row)}: column {column.name!r} is empty")
    return values


def _build(path: Path, index: int, row: dict[str, str], cls: type, values: dict) -> object:
    try:
        return cls(**{k: v for k, v in values.items() if v is not None})
    except ValueError as exc:
        raise InputError(f"{_where(path, index, row)}: {exc}") from None


def read_points(path: Path) -> tuple[ProfilePoint, ...]:
    """Read a ``profile.csv``."""
    header, rows = read_csv(path)
    _check_header(path, header, POINT_COLUMNS)
    if not rows:
        raise InputError(f"{path}: no rows; a profile needs at least one measured point")
    return tuple(
        _build(path, i, row, ProfilePoint, _row_values(path, i, row, POINT_COLUMNS))
        for i, row in enumerate(rows, start=1)
    )


def read_server(path: Path) -> ServerBaseline:
    """Read a ``server-only.csv`` (one row); a missing file means nothing was measured."""
    if not path.exists():
        return ServerBaseline()
    header, rows = read_csv(path)
    _check_header(path, header, SERVER_COLUMNS)
    if len(rows) != 1:
        raise InputError(f"{path}: expected exactly one row (the server alone), found {len(rows)}")
    return _build(path, 1, rows[0], ServerBaseline, _row_values(path, 1, rows[0], SERVER_COLUMNS))


def read_metadata(path: Path) -> ProfileMetadata:
    """Read a ``metadata.json``; a missing file means unknown metadata."""
    if not path.exists():
        return ProfileMetadata()
    data = _load_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    check_schema_version(path, data)
    data = {k: v for k, v in data.items() if k != SCHEMA_KEY}
    known = [f.name for f in dataclasses.fields(ProfileMetadata)]
    for key in data:
        if key not in known:
            raise InputError(f"{path}: unknown key {key!r}", did_you_mean(key, known))
    try:
        return ProfileMetadata(**data)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: {exc}") from None


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


def _load_json(path: Path) -> object:
    text = read_text(path)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    except ValueError as exc:  # NaN/Infinity, or an integer of more digits than Python converts
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{path}: not valid JSON (nested too deeply)") from None


def _read_model_analyzer(model_csv: Path) -> Profile:
    """Read Model Analyzer's 2020 export: metrics-model.csv (+ metrics-server-only.csv beside it)."""

    def convert(path: Path) -> list[dict[str, str]]:
        header, rows = read_csv(path)
        missing = [name for name in MA_COLUMNS if name not in header]
        if missing:
            raise InputError(f"{path}: missing Model Analyzer column {missing[0]!r}")
        return [{MA_COLUMNS[k]: v for k, v in row.items() if MA_COLUMNS.get(k)} for row in rows]

    rows = convert(model_csv)
    if not rows:
        raise InputError(f"{model_csv}: no rows")
    points = tuple(
        _build(model_csv, i, row, ProfilePoint, _row_values(model_csv, i, row, POINT_COLUMNS))
        for i, row in enumerate(rows, start=1)
    )
    server = ServerBaseline()
    server_csv = model_csv.with_name(MA_SERVER_CSV)
    if server_csv.exists():
        server_rows = convert(server_csv)
        if not server_rows:
            raise InputError(f"{server_csv}: no rows")
        # Model Analyzer writes one row per batch/concurrency it ran the server at: take the max.
        values = [_row_values(server_csv, i, r, SERVER_COLUMNS) for i, r in enumerate(server_rows, 1)]
        merged = {
            c.attr: max((v[c.attr] for v in values if v.get(c.attr) is not None), default=None)
            for c in SERVER_COLUMNS
        }
        server = _build(server_csv, 1, {}, ServerBaseline, merged)
    metadata = ProfileMetadata(device="gpu", load_generator="perf_analyzer (Model Analyzer export)")
    return Profile(points=points, server=server, metadata=metadata, source=str(model_csv))


def _is_directory(path: Path) -> bool:
    """True for a directory; a path that can't even be looked up (too long, ...) is one line."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_profile(path: str | os.PathLike[str]) -> Profile:
    """Read a profile from a directory or file: gpupack's, or Model Analyzer's (2020 or 1.x)."""
    path = Path(path)
    directory = _is_directory(path)  # first: a path that can't be looked up is one line
    # Model Analyzer 1.x (exports, checkpoints): profiler/model_analyzer.
    found = None if (path / PROFILE_CSV).exists() else model_analyzer.locate(path)
    if found is not None:
        return model_analyzer.read(found)
    if directory:
        if (path / PROFILE_CSV).exists():
            path = path / PROFILE_CSV
        elif (path / MA_MODEL_CSV).exists():
            path = path / MA_MODEL_CSV
        else:
            raise InputError(
                f"{path}: no {PROFILE_CSV} (gpupack), {MA_MODEL_CSV} (Model Analyzer 2020), "
                "metrics-model-inference.csv or N.ckpt (Model Analyzer 1.x) in this directory"
            )
    elif not os.path.lexists(path):
        raise InputError(f"{path}: no such file or directory")
    # read_text (through read_csv) refuses what is not a regular file: a FIFO, a device.
    header, _ = read_csv(path)
    if "MaxFramebuffer(MB)" in header:
        return _read_model_analyzer(path)
    points = read_points(path)
    server = read_server(path.with_name(SERVER_CSV))
    metadata = read_metadata(path.with_name(METADATA_JSON))
    return Profile(points=points, server=server, metadata=metadata, source=str(path))


def _format_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}" if abs(value) < 1e6 else f"{value:.1f}"
    return str(value)


def _csv_text(columns: tuple[Column, ...], records: Iterable[object]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    for record in records:
        writer.writerow([_format_cell(getattr(record, c.attr)) for c in columns])
    return out.getvalue()


def write_profile(profile: Profile, directory: str | os.PathLike[str]) -> Path:
    """Write ``profile`` as gpupack's three files in ``directory``; returns the CSV's path."""
    directory = Path(directory)
    write_atomic(directory / SERVER_CSV, _csv_text(SERVER_COLUMNS, [profile.server]))
    metadata = versioned(dataclasses.asdict(profile.metadata))
    write_atomic(directory / METADATA_JSON, json.dumps(metadata, indent=2) + "\n")
    # The streaming columns only where a point has them: other profiles keep their header.
    columns = tuple(
        c
        for c in POINT_COLUMNS
        if c.attr not in STREAMING_ATTRS or any(getattr(p, c.attr) is not None for p in profile.points)
    )
    write_atomic(directory / PROFILE_CSV, _csv_text(columns, profile.points))
    return directory / PROFILE_CSV
