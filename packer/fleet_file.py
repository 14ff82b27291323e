"""Read the fleet file (YAML) and the targets file (YAML or CSV) into ``inputs`` and ``rules`` types.

Fleet file (paths relative to the file; ``memory`` defaults to the profile's GPU, ``count`` to as
many as needed, ``rules`` to none)::

    gpu_types:
      - {name: t4, memory: 16GB, count: 8, cost_per_hour: 0.35, profile: profiles/t4,
         product_label: Tesla-T4}
      - {name: h200, memory: 141GB, cost_per_hour: 3.5, profile: profiles/h200, mig: H200-141GB}
    rules:
      pin: {segmentation_liver: a100}
      apart: [[segmentation_ct_pancreas, segmentation_ct_spleen]]
      together: [[classification_breast, classification_chest]]
      max_models_per_gpu: 3
      headroom_pct: 10

Targets file: YAML ``model: infer/s`` or ``model: {throughput: infer/s, max_latency_p99_ms: ms}``, or
CSV with columns ``model,throughput[,max_latency_p99_ms]``. A streaming (LLM) model may instead ask for
output tokens/s with time-to-first-token and inter-token p99 bounds: ``model: {tokens_per_s: 400,
max_ttft_p99_ms: 300, max_itl_p99_ms: 50}`` (either rate may carry any of the three bounds).
Every error is an ``InputError`` naming the file and the entry; unknown keys get a "did you mean".
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import yaml

from packer.inputs import INFER, TOKENS, Fleet, GpuType, Target, read_plan_profile
from packer.rules import Rules
from packer.units import MEMORY_FORMS, parse_memory_mb
from profiler import InputError, did_you_mean, read_csv, read_text

FLEET_KEYS = ("gpu_types", "rules")
TYPE_KEYS = ("name", "memory", "count", "cost_per_hour", "profile", "product_label", "mig")
RULE_KEYS = ("pin", "apart", "together", "max_models_per_gpu", "headroom_pct")
TARGET_KEYS = ("throughput", "max_latency_p99_ms", "tokens_per_s", "max_ttft_p99_ms", "max_itl_p99_ms")
# The rate keys: one of them per target (requests/s, or a streaming model's output tokens/s).
RATE_KEYS = {"throughput": INFER, "tokens_per_s": TOKENS}
# The largest number a fleet or targets file may give (infer/s, ms, cost, counts): beyond it, a typo.
MAX_NUMBER = 1e12
# A Kubernetes label value: up to 63 letters, digits, '-', '_', '.', starting and ending alphanumeric.
LABEL_VALUE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")


def choices_hint(name: str, known: list[str] | tuple[str, ...]) -> str:
    """A "did you mean" hint for ``name`` among ``known`` (``profiler.did_you_mean``), else all of them."""
    return did_you_mean(name, known, f"choose one of: {', '.join(known) or 'none'}") or ""


def _check_keys(where: str, data: dict, known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            raise InputError(f"{where}: unknown key {key!r}", choices_hint(str(key), known))


def _load_yaml(path: Path) -> object:
    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed"
        raise InputError(f"{path}: not valid YAML{line} ({problem})") from None


def _number(where: str, value: object, kind: type = float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: expected a number, got {value!r}")
    if not (math.isfinite(value) and abs(value) <= MAX_NUMBER):
        raise InputError(f"{where}: expected a finite number up to {MAX_NUMBER:g}, got {value!r}")
    if kind is int and not float(value).is_integer():
        raise InputError(f"{where}: expected a whole number, got {value!r}")
    return kind(value)


def _names(where: str, value: object) -> tuple[str, ...]:
    """A group of model names: a YAML list, or one "a,b" string."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"{where}: expected a list of model names, got {value!r}")
    return tuple(value)


def _rules(where: str, data: object) -> Rules:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping with keys {', '.join(RULE_KEYS)}")
    _check_keys(where, data, RULE_KEYS)
    pins = data.get("pin") or {}
    if not isinstance(pins, dict) or not all(isinstance(v, str) for v in pins.values()):
        raise InputError(f"{where}.pin: expected a mapping model: GPU type, got {pins!r}")
    groups = {}
    for key in ("apart", "together"):
        value = data.get(key) or []
        if not isinstance(value, list):
            raise InputError(f"{where}.{key}: expected a list of model groups, got {value!r}")
        groups[key] = tuple(_names(f"{where}.{key}[{i}]", g) for i, g in enumerate(value))
    limit = data.get("max_models_per_gpu")
    headroom = data.get("headroom_pct")
    return Rules(
        pins=tuple((str(m), t) for m, t in pins.items()),
        apart=groups["apart"],
        together=groups["together"],
        max_models_per_gpu=None if limit is None else int(_number(f"{where}.max_models_per_gpu", limit, int)),
        headroom_pct=None if headroom is None else _number(f"{where}.headroom_pct", headroom),
    )


def _gpu_type(path: Path, index: int, data: object) -> GpuType:
    where = f"{path}: gpu_types[{index}]"
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping with keys {', '.join(TYPE_KEYS)}")
    _check_keys(where, data, TYPE_KEYS)
    for key in ("name", "profile", "cost_per_hour"):
        if data.get(key) in (None, ""):
            raise InputError(f"{where}: missing {key!r}")
    where = f"{path}: GPU type {data['name']!r}"
    profile = read_plan_profile(path.parent / str(data["profile"]))
    memory = data.get("memory", profile.metadata.gpu_memory_mb)
    if memory is None:
        raise InputError(
            f"{where}: no memory given and its profile does not say", f"add memory: {MEMORY_FORMS}"
        )
    memory_mb = parse_memory_mb(memory)
    if memory_mb is None:
        raise InputError(f"{where}: memory {memory!r} is not a size like {MEMORY_FORMS}")
    count = data.get("count")
    return GpuType(
        name=str(data["name"]),
        memory_mb=memory_mb,
        profile=profile,
        count=None if count is None else int(_number(f"{where}: count", count, int)),
        cost_per_hour=_number(f"{where}: cost_per_hour", data["cost_per_hour"]),
        product_label=_label(f"{where}: product_label", data.get("product_label")),
        mig=_mig(where, data.get("mig")),
    )


def _mig(where: str, value: object) -> str | None:
    """The MIG product a type names (``mig: H200-141GB``), checked against the products known."""
    if value is None:
        return None
    from packer.mig.products import mig_product

    try:
        return mig_product(str(value)).name
    except InputError as exc:
        raise InputError(f"{where}: mig: {exc.message}", exc.hint) from None


def _label(where: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not LABEL_VALUE.fullmatch(value):
        raise InputError(f"{where}: {value!r} is not a Kubernetes label value (e.g. NVIDIA-H100-80GB-HBM3)")
    return value


def read_fleet(path: Path) -> Fleet:
    """Read a fleet file: its GPU types (each with its profile read) and its rules."""
    data = _load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("gpu_types"), list) or not data["gpu_types"]:
        raise InputError(f"{path}: expected a mapping with a non-empty list 'gpu_types'")
    _check_keys(str(path), data, FLEET_KEYS)
    types = tuple(_gpu_type(path, i, t) for i, t in enumerate(data["gpu_types"]))
    rules = _rules(f"{path}: rules", data["rules"]) if data.get("rules") is not None else Rules()
    return Fleet(types=types, rules=rules, source=str(path))


def _target(where: str, model: str, value: object) -> Target:
    if not isinstance(value, dict):
        return Target(model, _number(f"{where}: throughput", value))
    _check_keys(where, value, TARGET_KEYS)
    rates = [key for key in RATE_KEYS if value.get(key) is not None]
    if len(rates) != 1:
        raise InputError(
            f"{where}: give one of 'throughput' (infer/s) or 'tokens_per_s' (output tokens/s), "
            f"got {' and '.join(rates) or 'neither'}"
        )
    bounds = {
        key: None if value.get(key) is None else _number(f"{where}: {key}", value[key])
        for key in ("max_latency_p99_ms", "max_ttft_p99_ms", "max_itl_p99_ms")
    }
    return Target(model, _number(f"{where}: {rates[0]}", value[rates[0]]), unit=RATE_KEYS[rates[0]], **bounds)


def _targets_csv(path: Path) -> tuple[Target, ...]:
    header, rows = read_csv(path)  # the strict reader: a row with extra cells is refused
    if not rows or "model" not in header or not set(RATE_KEYS) & set(header):
        raise InputError(
            f"{path}: expected a header model,throughput[,max_latency_p99_ms] (or model,tokens_per_s"
            "[,max_ttft_p99_ms,max_itl_p99_ms]) and rows"
        )
    _check_keys(str(path), dict.fromkeys(header), ("model", *TARGET_KEYS))
    targets = []
    for i, row in enumerate(rows, start=1):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        values = {}
        for key in TARGET_KEYS:
            if row.get(key):
                try:
                    number = float(row[key])
                except ValueError:
                    raise InputError(f"{path} row {i}: {key}: expected a number, got {row[key]!r}") from None
                values[key] = _number(f"{path} row {i}: {key}", number)
        targets.append(_target(f"{path} row {i}", row["model"], values))
    return tuple(targets)


def read_targets(path: Path) -> tuple[Target, ...]:
    """Read a targets file, YAML or (by its ``.csv`` suffix) CSV; each model at most once."""
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        targets = _targets_csv(path)
    else:
        data = _load_yaml(path)
        if not isinstance(data, dict) or not data:
            raise InputError(f"{path}: expected a mapping model: infer/s (or model: {{throughput: ...}})")
        targets = tuple(_target(f"{path}: {m}", str(m), v) for m, v in data.items())
    models = [t.model for t in targets]
    for model in models:
        if not model or models.count(model) > 1:
            raise InputError(f"{path}: model {model!r} is empty or listed twice")
    return targets
