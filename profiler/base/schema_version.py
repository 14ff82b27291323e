"""The ``schema_version`` of the files other tools read: plan.json, validation.json, metadata.json.

A version is ``MAJOR.MINOR``: a new optional key raises MINOR (older readers ignore what they do not
know), a key removed, renamed or given another meaning raises MAJOR. A reader takes any version of
its own MAJOR and refuses a newer one in one line, rather than misreading it; a file without the key
was written before versions were (gpupack up to 1.0's layout) and reads as ``1.0``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from profiler.base.errors import InputError

KEY = "schema_version"
# What this gpupack writes in each of its files, and reads back.
# 1.1 (2026-12-05): plan.json gained MIG slices (`mig`) and the config-search variant keys of a point.
# 1.2 (2026-12-05): streaming (LLM) models: plan.json's memory shares, token rates, TTFT/ITL bounds and
# token lengths; validation.json's promised and measured tokens/s, TTFT and ITL.
# 1.3 (2026-12-05): open-loop rate points: a point's concurrency may be 0 with its request_rate, and
# validation.json's models carry request_rate.
# 1.4 (2026-12-05): plan.json's models on a shared GPU carry their predicted `colocation_ratio` and
# `expected_throughput` (the promise validation holds them to); plan.json's `stopped_by_time_limit`
# (the time limit cut the work budget short).
SCHEMA_VERSION = "1.4"
# Files from before the key existed.
UNVERSIONED = "1.0"
_FORM = re.compile(r"(\d{1,6})\.(\d{1,6})")


def _major(version: str) -> int:
    return int(version.split(".")[0])


def check_schema_version(path: Path | str, data: Mapping, supported: str = SCHEMA_VERSION) -> str:
    """The ``schema_version`` of ``data`` (read from ``path``), refused when its MAJOR is newer.

    Raises:
        InputError: not a ``MAJOR.MINOR`` string, or written by a newer gpupack.

    """
    version = data.get(KEY, UNVERSIONED)
    if not isinstance(version, str) or not _FORM.fullmatch(version):
        raise InputError(f"{path}: {KEY} must be MAJOR.MINOR (like {SCHEMA_VERSION}), got {version!r}")
    if _major(version) > _major(supported):
        raise InputError(
            f"{path} was written by a newer gpupack (schema {_major(version)}.x); "
            f"this one reads {_major(supported)}.x",
            "upgrade gpupack to read it",
        )
    return version


def versioned(document: Mapping[str, object], version: str = SCHEMA_VERSION) -> dict[str, object]:
    """``document`` with its ``schema_version`` first, as every written file carries it."""
    return {KEY: version, **{k: v for k, v in document.items() if k != KEY}}
