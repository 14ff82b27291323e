"""Fault injection: generated bad inputs against `gpupack plan` and `gpupack profile`, through the CLI.

Every bad profile.csv cell, metadata.json value, server-only.csv, option value (flag or environment
variable) and output path must end the same way: exit 1 or 2, exactly one ``error:`` line on
stderr (and at most a ``To fix:`` line), no traceback, no file anywhere touched, nothing
half-written. None of these inputs reaches a server: every one is refused before one would start.
Hypothesis draws the inputs (about 200 examples in all); the named tests after them pin the cases
issue 13 lists.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import cli
from packer.service import BUILTIN_PROFILE
from profiler.profiles.profile_io import read_profile, write_profile
from profiler.profiles.schema import (
    LIMITS,
    METADATA_JSON,
    POINT_COLUMNS,
    PROFILE_CSV,
    SERVER_COLUMNS,
    SERVER_CSV,
    STREAMING_ATTRS,
)

# deadline=None: a 2-core machine shared with other test runs makes any per-example deadline flaky.
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The seed profile with every column present (instance counts, latencies, bools, errors).
SEED = read_profile(BUILTIN_PROFILE)
# The columns a profile of classic models is written with (the streaming ones only where a point has them;
# tests/unit/test_streaming_tokens.py corrupts those).
CLASSIC_COLUMNS = [c for c in POINT_COLUMNS if c.attr not in STREAMING_ATTRS]
FLOAT_COLUMNS = [c for c in CLASSIC_COLUMNS if c.kind is float]
INT_COLUMNS = [c for c in CLASSIC_COLUMNS if c.kind is int]
BOOL_COLUMNS = [c for c in CLASSIC_COLUMNS if c.kind is bool]
HEADER = [c.name for c in CLASSIC_COLUMNS]
# Printable text without surrogates or NULs (environment variables can't hold a NUL).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)


# ---- checking a failure ---------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its type, size, mtime and (regular files) content."""
    state = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        state[str(path.relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns, content)
    return state


@contextmanager
def workspace() -> Iterator[Path]:
    """A fresh directory per example (Hypothesis reruns the test body; tmp_path would be shared)."""
    with tempfile.TemporaryDirectory(prefix="gpupack-fault-") as name:
        yield Path(name)


def assert_refused(
    result: Result, root: Path, before: dict[str, tuple], codes: tuple[int, ...] = (2,)
) -> None:
    """Exit 1/2, one ``error:`` line (+ ``To fix:``), no traceback, nothing under ``root`` changed."""
    assert result.exit_code in codes, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) in (1, 2) and lines[0].startswith("error: "), lines
    assert all(line.startswith("To fix: ") for line in lines[1:]), lines
    assert "Traceback" not in result.output
    assert _snapshot(root) == before


def plan(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Result, dict]:
    """Run ``gpupack plan ARGS`` on a snapshot of ``root``; returns the result and the snapshot before."""
    before = _snapshot(root)
    return CliRunner().invoke(cli, ["plan", *args], env=env or {}), before


def seed_copy(root: Path) -> Path:
    """The seed profile as gpupack writes it (all 19 columns) in ``root/seed``."""
    directory = root / "seed"
    write_profile(SEED, directory)
    return directory


def _rows(directory: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO((directory / PROFILE_CSV).read_text())))


def _write_rows(directory: Path, rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(rows)
    (directory / PROFILE_CSV).write_text(out.getvalue())


# ---- strategies -------------------------------------------------------------------------------


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


NOT_A_NUMBER = TEXT.filter(lambda t: t.strip() and not _parses_as_float(t) and "," not in t and '"' not in t)
NON_FINITE = st.sampled_from(["inf", "-inf", "+inf", "Infinity", "-Infinity", "1e309", "-1e400", "1" * 400])
NEGATIVE = st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False).map(repr)


def bad_measure(column) -> st.SearchStrategy[str]:
    """A cell no float column of that name accepts: not a number, not finite, negative, too large."""
    too_large = st.floats(min_value=LIMITS[column.attr] * 1.01 + 1, allow_infinity=False).map(repr)
    return st.one_of(NOT_A_NUMBER, NON_FINITE, NEGATIVE, too_large)


BAD_COUNT = st.one_of(
    st.integers(max_value=0).map(str),
    st.integers(min_value=2**31).map(str),
    st.sampled_from(["1.5", "2.25", "1e308", "inf", "nan1", "0x10"]),
    NOT_A_NUMBER,
)
BAD_BOOL = TEXT.filter(
    lambda t: (
        t.strip().lower() not in {"true", "false", "1", "0", "yes", "no", "", "nan"}
        and "," not in t
        and '"' not in t
        and "\n" not in t
        and "\r" not in t
    )
)
BAD_MODEL = st.one_of(
    st.integers(256, 400).map(lambda n: "m" * n),
    st.tuples(
        st.text("abc", min_size=1, max_size=5),
        st.sampled_from(["\t", "\n", "\x01", "\x1b", "\x7f"]),
        st.text("abc", min_size=1, max_size=5),
    ).map("".join),
)


@st.composite
def bad_cell(draw) -> tuple[str, str]:
    """(column name, a value it refuses)."""
    kind = draw(st.sampled_from(["float", "int", "bool", "model", "throughput-empty"]))
    if kind == "float":
        column = draw(st.sampled_from(FLOAT_COLUMNS))
        return column.name, draw(bad_measure(column))
    if kind == "int":
        return draw(st.sampled_from(INT_COLUMNS)).name, draw(BAD_COUNT)
    if kind == "bool":
        return draw(st.sampled_from(BOOL_COLUMNS)).name, draw(BAD_BOOL)
    if kind == "model":
        return "model", draw(BAD_MODEL)
    return "throughput_infer_per_sec", draw(st.sampled_from(["", "nan", "NaN", " "]))


# ---- profile.csv, metadata.json, server-only.csv --------------------------------------------------


@FAST
@given(cell=bad_cell(), row=st.integers(1, len(SEED.points)))
def test_any_bad_profile_cell_is_one_line_naming_file_row_and_column(cell, row):
    column, value = cell
    with workspace() as root:
        directory = seed_copy(root)
        rows = _rows(directory)
        rows[row][HEADER.index(column)] = value
        _write_rows(directory, rows)
        result, before = plan(root, "--profiles", str(directory))
        assert_refused(result, root, before)
        assert f"profile.csv row {row}" in result.stderr and repr(column) in result.stderr


@FAST
@given(
    kind=st.sampled_from(["extra", "missing", "duplicate", "unknown", "bytes", "nul", "quote", "empty"]),
    row=st.integers(1, len(SEED.points)),
    junk=st.binary(min_size=1, max_size=4).filter(lambda b: not _utf8(b)),
    name=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(lambda n: n not in HEADER),
)
def test_a_malformed_profile_csv_is_one_line(kind, row, junk, name):
    with workspace() as root:
        directory = seed_copy(root)
        lines = (directory / PROFILE_CSV).read_bytes().split(b"\n")
        if kind == "extra":
            lines[row] += b",1"
        elif kind == "missing":
            lines[row] = lines[row].rsplit(b",", 1)[0]
        elif kind == "duplicate":
            lines[0] += b",model"
        elif kind == "unknown":
            lines[0] = lines[0].replace(b"max_sm_activity_pct", name.encode())
        elif kind == "bytes":
            lines[row] = lines[row][:3] + junk + lines[row][3:]
        elif kind == "nul":
            lines[row] = lines[row][:3] + b"\x00" + lines[row][3:]
        elif kind == "quote":
            lines[row] = b'"' + lines[row][:5] + b'"x' + lines[row][5:]
        else:
            lines = lines[:1]
        (directory / PROFILE_CSV).write_bytes(b"\n".join(lines))
        result, before = plan(root, "--profiles", str(directory))
        assert_refused(result, root, before)
        assert "profile.csv" in result.stderr


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


BAD_MEMORY = st.one_of(
    st.sampled_from(["16GB", "16000", "", "true", "nan"]),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.floats(max_value=0, allow_nan=False, allow_infinity=False),
    st.floats(min_value=1.01e9, allow_infinity=False),
    st.just(1e400),  # json.dumps writes Infinity; json.loads reads 1e400 as inf too
)


@st.composite
def bad_metadata(draw) -> tuple[str, str]:
    """(what, metadata.json text) that a profile must refuse."""
    data = {"device": "gpu", "gpu_memory_mb": 16000}
    kind = draw(st.sampled_from(["memory", "device", "type", "unknown", "not-object", "not-json", "deep"]))
    if kind == "memory":
        value = draw(BAD_MEMORY)
        if isinstance(value, float) and math.isinf(value):
            return kind, '{"gpu_memory_mb": 1e400}'
        data["gpu_memory_mb"] = value
    elif kind == "device":
        data["device"] = draw(TEXT.filter(lambda t: t not in ("gpu", "cpu", "unknown")))
    elif kind == "type":
        field = draw(
            st.sampled_from(["gpu_name", "driver", "triton_version", "date", "load_generator", "notes"])
        )
        data[field] = draw(st.one_of(st.integers(), st.booleans(), st.lists(TEXT, max_size=2)))
    elif kind == "unknown":
        data[draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=15).filter(_unknown_key))] = 1
    elif kind == "not-object":
        return kind, json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), TEXT)))
    elif kind == "not-json":
        return kind, draw(st.sampled_from(["{", "{'device': 'gpu'}", '{"gpu_memory_mb": NaN}', "", "\x00"]))
    else:
        return kind, "[" * draw(st.integers(2_000, 100_000))
    return kind, json.dumps(data)


def _unknown_key(key: str) -> bool:
    return key not in {f.name for f in dataclasses.fields(SEED.metadata)}


@FAST
@given(bad=bad_metadata())
def test_any_bad_metadata_json_is_one_line_naming_the_file(bad):
    _, text = bad
    with workspace() as root:
        directory = seed_copy(root)
        (directory / METADATA_JSON).write_text(text)
        result, before = plan(root, "--profiles", str(directory))
        assert_refused(result, root, before)
        assert "metadata.json" in result.stderr


@settings(max_examples=15, deadline=None)
@given(
    column=st.sampled_from(SERVER_COLUMNS).flatmap(lambda c: st.tuples(st.just(c.name), bad_measure(c))),
    rows=st.sampled_from([0, 1, 2]),
)
def test_any_bad_server_only_csv_is_one_line(column, rows):
    name, value = column
    with workspace() as root:
        directory = seed_copy(root)
        header = [c.name for c in SERVER_COLUMNS]
        good = ",".join("0" for _ in header)
        bad = ",".join(value if h == name else "0" for h in header)
        body = {0: [], 1: [bad], 2: [good, good]}[rows]
        (directory / SERVER_CSV).write_text("\n".join([",".join(header), *body]) + "\n")
        result, before = plan(root, "--profiles", str(directory))
        assert_refused(result, root, before)
        assert "server-only.csv" in result.stderr


# ---- option values, as flags or as environment variables ------------------------------------------

# option -> (kind, low, high, low_open, high_open), as cli.py declares them
PLAN_NUMBERS = {
    "--time-limit": (float, 0, 1e6, True, False),
    "--max-memory": (float, 0, 1000, True, False),
    "--max-gpu-util": (float, 0, 1000, True, False),
    "--max-mem-util": (float, 0, 1000, True, False),
    "--headroom": (float, 0, 100, False, True),
    "--workers": (int, 0, 1024, False, False),
    "--seed": (int, -(2**31), 2**31 - 1, False, False),
    "--batch": (int, 1, 2**31 - 1, False, False),
    "--concurrency": (int, 1, 1_000_000, False, False),
    "--base-port": (int, 1, 65535, False, False),
    "--gpus": (int, 1, 100_000, False, False),
    "--max-models-per-gpu": (int, 1, 100_000, False, False),
}
PROFILE_NUMBERS = {
    "--window": (float, 0, 3600, True, False),
    "--warmup": (float, 0, 3600, False, False),
    "--stability": (float, 0, 100, True, False),
    "--request-timeout": (float, 0, 3600, True, False),
    "--max-windows": (int, 3, 10_000, False, False),
    "--sample-interval": (int, 10, 60_000, False, False),
    "--gpu": (int, 0, 1023, False, False),
}


def bad_number(spec: tuple) -> st.SearchStrategy[str]:
    """Text the option refuses: not a number, not finite, out of range; for ints, not whole."""
    kind, low, high, low_open, high_open = spec
    below = st.floats(max_value=low, allow_nan=False, allow_infinity=False)
    above = st.floats(min_value=high, allow_nan=False, allow_infinity=False)
    outside = st.one_of(
        below.filter(lambda v: v < low or (low_open and v == low)),
        above.filter(lambda v: v > high or (high_open and v == high)),
    )
    common = st.one_of(NOT_A_NUMBER, st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e309"]))
    if kind is float:
        return st.one_of(common, outside.map(repr))
    whole_outside = st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1)).map(str)
    return st.one_of(common, whole_outside, st.sampled_from(["1.5", "1e3", "2.0", "0x10", "1_0", "٣"]))


def _env(command: str, option: str) -> str:
    return f"GPUPACK_{command}_{option.lstrip('-')}".upper().replace("-", "_")


@settings(max_examples=40, deadline=None)
@given(
    case=st.sampled_from(sorted(PLAN_NUMBERS)).flatmap(
        lambda o: st.tuples(st.just(o), bad_number(PLAN_NUMBERS[o]))
    ),
    from_env=st.booleans(),
)
def test_any_bad_plan_option_value_is_one_line_exit_2(case, from_env):
    option, value = case
    with workspace() as root:
        args, env = ([], {_env("plan", option): value}) if from_env else ([option, value], {})
        if from_env and not value.strip():
            return  # an empty environment variable means "not set"
        result, before = plan(root, *args, env=env)
        assert_refused(result, root, before)


@FAST
@given(
    value=st.one_of(
        NON_FINITE.map(lambda v: v + "GB"), st.sampled_from(["0", "-1GB", "16XB", "1" * 30, "nan"])
    )
)
def test_any_bad_gpu_memory_is_one_line_exit_2(value):
    with workspace() as root:
        result, before = plan(root, "--gpu-memory", value)
        assert_refused(result, root, before)


def profile(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Result, dict]:
    """``gpupack profile ARGS`` on a repository that exists (and is never started: args are bad)."""
    (root / "models" / "m").mkdir(parents=True, exist_ok=True)
    before = _snapshot(root)
    base = [
        "profile",
        "--model-repository",
        str(root / "models"),
        "--models",
        "m",
        "--output",
        str(root / "p"),
    ]
    return CliRunner().invoke(cli, [*base, *args], env=env or {}), before


@st.composite
def bad_profile_option(draw) -> tuple[str, str]:
    kind = draw(st.sampled_from(["number", "list", "shape", "models"]))
    if kind == "number":
        option = draw(st.sampled_from(sorted(PROFILE_NUMBERS)))
        return option, draw(bad_number(PROFILE_NUMBERS[option]))
    if kind == "list":
        option = draw(st.sampled_from(["--batch", "--concurrency"]))
        bad = draw(st.one_of(BAD_COUNT.filter(lambda t: "," not in t), st.just("")))
        return option, ",".join(["1", bad])
    if kind == "shape":
        return "--shape", draw(
            st.sampled_from(["I", "I:", ":3", "I:0", "I:-1", "I:1.5", "I:3,,4", "I:99999,99999,99999"])
        )
    return "--models", draw(st.one_of(BAD_MODEL, st.sampled_from(["..", "a/b", ".hidden", ",", " "])))


@settings(max_examples=40, deadline=None)
@given(case=bad_profile_option(), from_env=st.booleans())
def test_any_bad_profile_option_value_is_one_line_exit_2_before_any_server(case, from_env):
    option, value = case
    if from_env and (not value.strip() or option in ("--shape", "--models")):
        from_env = False  # empty means unset; --shape splits on spaces from the environment
    with workspace() as root:
        args, env = ([], {_env("profile", option): value}) if from_env else ([option, value], {})
        result, before = profile(root, *args, env=env)
        assert_refused(result, root, before)


# ---- output paths ------------------------------------------------------------------------------

NAME = st.text("abcdefghijklmnopqrstuvwxyzé-_ ", min_size=1, max_size=12).filter(lambda n: n.strip())


@st.composite
def bad_output(draw, root: Path) -> Path:
    kind = draw(st.sampled_from(["under-file", "too-long", "proc", "repository", "in-repository", "is-file"]))
    if kind == "under-file":
        return root / "file" / draw(NAME) / "out"
    if kind == "too-long":
        return root / ("x" * draw(st.integers(256, 1000)))
    if kind == "proc":
        return Path("/proc") / f"gpupack-{draw(NAME)}"
    if kind == "repository":
        return root / "models"
    if kind == "in-repository":
        return root / "models" / draw(NAME)
    return root / "file"


@FAST
@given(data=st.data())
def test_any_unwritable_profile_output_is_one_line_and_nothing_is_created(data):
    with workspace() as root:
        (root / "file").write_text("not a directory")
        output = data.draw(bad_output(root))
        (root / "models" / "m").mkdir(parents=True)
        before = _snapshot(root)
        result = CliRunner().invoke(
            cli,
            ["profile", "--model-repository", str(root / "models"), "--models", "m", "--output", str(output)],
        )
        assert_refused(result, root, before)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_any_unwritable_plan_output_is_one_line_and_nothing_is_created(data):
    with workspace() as root:
        (root / "file").write_text("not a directory")
        output = data.draw(bad_output(root).filter(lambda p: "models" not in p.parts and p != root / "file"))
        result, before = plan(root, "--output", str(output))
        assert_refused(result, root, before)


@settings(max_examples=20, deadline=None)
@given(
    kind=st.sampled_from(["too-long", "under-file", "missing", "fifo", "device", "empty-dir", "deep"]),
    name=NAME,
)
def test_any_unreadable_profiles_path_is_one_line(kind, name):
    with workspace() as root:
        (root / "file").write_text("not a directory")
        (root / "empty").mkdir()
        os.mkfifo(root / "fifo.csv")
        path = {
            "too-long": root / (name * 300)[:300],
            "under-file": root / "file" / name,
            "missing": root / name / "profile.csv",
            "fifo": root / "fifo.csv",
            "device": Path("/dev/null"),
            "empty-dir": root / "empty",
            "deep": root.joinpath(*["d"] * 3000),
        }[kind]
        result, before = plan(root, "--profiles", str(path))
        assert_refused(result, root, before)


@settings(max_examples=15, deadline=None)
@given(cell=bad_cell(), row=st.integers(1, len(SEED.points)))
def test_resuming_a_corrupt_profile_is_refused_and_leaves_it_untouched(cell, row):
    column, value = cell
    with workspace() as root:
        directory = seed_copy(root)
        rows = _rows(directory)
        rows[row][HEADER.index(column)] = value
        _write_rows(directory, rows)
        (root / "models" / "m").mkdir(parents=True)
        before = _snapshot(root)
        result = CliRunner().invoke(
            cli,
            ["profile", "--model-repository", str(root / "models"), "--models", "m"]
            + ["--output", str(directory), "--resume"],
        )
        assert_refused(result, root, before)


# ---- the cases issue 13 names --------------------------------------------------------------------


def test_a_fifo_as_profile_csv_is_refused_at_once(tmp_path: Path):
    directory = seed_copy(tmp_path)
    (directory / PROFILE_CSV).unlink()
    os.mkfifo(directory / PROFILE_CSV)
    result, before = plan(tmp_path, "--profiles", str(directory))
    assert_refused(result, tmp_path, before)
    assert "profile.csv: is a FIFO, expected a regular file" in result.stderr


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"16GB"', "gpu_memory_mb must be a number of MB, got '16GB'"),
        ("true", "got True"),
        ("1e400", "got inf"),
    ],
)
def test_metadata_gpu_memory_must_be_a_finite_number(tmp_path: Path, value, words):
    directory = seed_copy(tmp_path)
    (directory / METADATA_JSON).write_text(f'{{"gpu_memory_mb": {value}}}')
    result, before = plan(tmp_path, "--profiles", str(directory))
    assert_refused(result, tmp_path, before)
    assert words in result.stderr


def test_a_row_with_more_cells_than_the_header_is_refused(tmp_path: Path):
    directory = seed_copy(tmp_path)
    rows = _rows(directory)
    rows[3].append("extra")
    _write_rows(directory, rows)
    result, before = plan(tmp_path, "--profiles", str(directory))
    assert_refused(result, tmp_path, before)
    assert (
        f"profile.csv row 3: {len(HEADER) + 1} cells, but the header has {len(HEADER)} columns"
        in result.stderr
    )


def test_an_infinite_throughput_is_refused_where_the_file_is_read(tmp_path: Path):
    directory = seed_copy(tmp_path)
    rows = _rows(directory)
    rows[1][HEADER.index("throughput_infer_per_sec")] = "inf"
    _write_rows(directory, rows)
    result, before = plan(tmp_path, "--profiles", str(directory), "--json")
    assert_refused(result, tmp_path, before)
    assert "expected a finite number, got 'inf'" in result.stderr


def test_a_non_utf8_profile_names_the_file(tmp_path: Path):
    directory = seed_copy(tmp_path)
    csv = directory / PROFILE_CSV
    csv.write_bytes(csv.read_bytes().replace(b"classification_breast", b"classification_br\xe9ast"))
    result, before = plan(tmp_path, "--profiles", str(directory))
    assert_refused(result, tmp_path, before)
    assert f"{csv}: not UTF-8 text (byte 0xe9 at offset" in result.stderr


def test_a_non_utf8_targets_file_names_the_file(tmp_path: Path):
    targets = tmp_path / "targets.csv"
    targets.write_bytes(b"model,throughput\nclassification_br\xe9ast,10\n")
    result, before = plan(tmp_path, "--targets", str(targets))
    assert_refused(result, tmp_path, before)
    assert "targets.csv: not UTF-8 text" in result.stderr


def test_a_non_utf8_config_pbtxt_names_the_file(tmp_path: Path):
    repo = tmp_path / "models"
    for point in SEED.points:
        (repo / point.model).mkdir(parents=True)
        (repo / point.model / "config.pbtxt").write_bytes(f'name: "{point.model}"\n'.encode())
    (repo / SEED.points[0].model / "config.pbtxt").write_bytes(b'name: "x" # caf\xe9\n')
    result, before = plan(
        tmp_path, "--model-repository", str(repo), "--write-repositories", str(tmp_path / "out")
    )
    assert_refused(result, tmp_path, before)
    assert "config.pbtxt: not UTF-8 text" in result.stderr


def test_profile_and_plan_outputs_are_0644(tmp_path: Path):
    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(cli, ["plan", "--output", str(tmp_path / "plan.json")])
        write_profile(SEED, tmp_path / "profile")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    for path in [tmp_path / "plan.json", *(tmp_path / "profile").iterdir()]:
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_the_seed_copy_itself_plans(tmp_path: Path):
    """The base every mutation above starts from is a valid profile (so each refusal is the mutation's)."""
    directory = seed_copy(tmp_path)
    result = CliRunner().invoke(cli, ["plan", "--profiles", str(directory)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("models", "words"),
    [("m" * 300, "is longer than 255 bytes"), ("a\nb", r"model name 'a\nb' contains a control character")],
)
def test_model_names_too_long_or_with_a_newline_are_one_line(tmp_path: Path, models, words):
    result, before = profile(tmp_path, "--models", models)
    assert_refused(result, tmp_path, before)
    assert words in result.stderr


def test_a_full_disk_mid_sweep_prints_every_measured_point_then_one_error(tmp_path: Path, monkeypatch):
    import profiler.measure.run
    from profiler.base.errors import EXIT_RUNTIME, OutputError
    from profiler.measure.request import ProfileRequest, ProfileResult
    from profiler.measure.sweep import SweepOutcome

    full = OutputError(
        f"cannot write {tmp_path}/p/profile.csv (No space left on device)", "free space", EXIT_RUNTIME
    )

    def run_profile(request: ProfileRequest, reporter) -> ProfileResult:
        outcome = SweepOutcome(SEED, 9, 0, 0, False, 1.0, write_error=full, unsaved=1)
        return ProfileResult(request=request, outcome=outcome, notices=())

    monkeypatch.setattr(profiler.measure.run, "run_profile", run_profile)
    result, before = profile(tmp_path)
    assert_refused(result, tmp_path, before, codes=(1,))
    assert "No space left on device" in result.stderr
    assert all(p.model in result.stdout for p in SEED.points)  # nothing measured is lost: it is printed
    assert "not written: the last 1 point(s) above" in result.stdout


def test_a_run_refused_after_taking_its_output_removes_every_folder_it_made(tmp_path: Path):
    (tmp_path / "models" / "m").mkdir(parents=True)
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["profile", "--model-repository", str(tmp_path / "models"), "--models", "unknown"]
        + ["--output", str(tmp_path / "new" / "deeper" / "profile")],
    )
    assert_refused(result, tmp_path, before)
    assert "no model 'unknown'" in result.stderr


def test_plan_output_that_is_an_input_is_refused_and_the_input_kept(seed_dir: Path):
    csv = seed_dir / "profile.csv"
    before = csv.read_bytes()
    result = CliRunner().invoke(cli, ["plan", "--profiles", str(seed_dir), "--output", str(csv)])
    assert result.exit_code == 2 and "gpupack never writes" in result.output
    assert csv.read_bytes() == before


def test_repositories_and_an_unwritable_output_write_nothing(seed_dir: Path, tmp_path: Path):
    repo = tmp_path / "models"
    for line in (seed_dir / "profile.csv").read_text().splitlines()[1:]:
        (repo / line.split(",")[0] / "1").mkdir(parents=True, exist_ok=True)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = tmp_path / "deploy"
    result = CliRunner().invoke(
        cli,
        ["plan", "--profiles", str(seed_dir), "--model-repository", str(repo),
         "--write-repositories", str(out), "--output", str(blocker / "plan.json")],
    )  # fmt: skip
    assert result.exit_code in (1, 2) and "cannot write" in result.output and "Traceback" not in result.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "models", "seed"]


def test_a_fleet_file_with_an_infinite_number_is_refused(tmp_path: Path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("gpu_types:\n  - {name: a, memory: 16GB, cost_per_hour: .inf, profile: p}\n")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "profile.csv").write_text(
        "model,batch_size,concurrency,throughput_infer_per_sec\nm,1,1,1\n"
    )
    result = CliRunner().invoke(cli, ["plan", "--fleet", str(fleet)])
    assert result.exit_code == 2 and "expected a finite number" in result.output
