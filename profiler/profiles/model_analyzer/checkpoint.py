"""Model Analyzer 1.x checkpoints: ``checkpoints/N.ckpt``, the JSON state of a profile run.

Top-level keys used: ``ResultManager.results`` (per model, per config variant: the run config and
its measurements), ``ResultManager.server_only_data`` (the server alone) and
``MetricsManager.gpus`` (each GPU's name and total memory in bytes; empty for a CPU-only run, whose
measurements then hold RAM, ``cpu_used_ram``, if ``collect_cpu_metrics`` was on). Newer checkpoints
hold each variant's model config under ``_model_config_variant.model_config``; older ones (the 2021
brute-force experiments) under ``_model_config``, named after the variant. The configs are kept
(``Profile.variant_configs``) so the variant a plan chooses can be deployed as measured.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from profiler.base.errors import InputError
from profiler.profiles.model_analyzer.records import (
    LOAD_GENERATOR,
    Measurement,
    ModelLoad,
    config_batching,
    config_instance_count,
    to_profile,
)
from profiler.profiles.schema import Profile, ProfileMetadata, ServerBaseline

RESULTS = "ResultManager.results"
SERVER = "ResultManager.server_only_data"
GPUS = "MetricsManager.gpus"
BYTES_PER_MB = 1e6
_NOT_CONFIG = ("cpu_only",)  # Model Analyzer's own flag beside the protobuf fields


def latest(directory: Path) -> Path | None:
    """The highest-numbered ``N.ckpt`` in ``directory`` (the one Model Analyzer resumes from)."""
    found = [p for p in directory.glob("*.ckpt") if p.is_file()]
    numbered = sorted((int(p.stem), p) for p in found if p.stem.isdigit())
    if numbered:
        return numbered[-1][1]
    return sorted(found)[-1] if found else None


def _values(records: list) -> dict[str, float]:
    """``[[tag, {"_value": v, ...}], ...]`` as ``{tag: v}``."""
    return {tag: record["_value"] for tag, record in records}


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _variant(run: Mapping) -> tuple[str, str, dict]:
    """(model, variant name, model config as protobuf JSON named after the model) of a model run."""
    model = run["_model_name"]
    if "_model_config_variant" in run:
        variant = run["_model_config_variant"]
        name, config = variant["variant_name"], dict(variant["model_config"])
    else:
        config = dict(run["_model_config"])
        name = config["name"]
    for key in _NOT_CONFIG:
        config.pop(key, None)
    config["name"] = model
    return model, name, config


def _measurement(runs: list[tuple[str, str, dict]], data: Mapping) -> Measurement:
    gpus = data["_gpu_data"]
    if len(gpus) > 1:
        raise ValueError(f"measured on {len(gpus)} GPUs at once; gpupack packs single-GPU measurements")
    gpu = _values(data["_avg_gpu_data"])
    loads = []
    for (model, variant, config), part in zip(runs, data["_model_config_measurements"], strict=True):
        params = part["_model_specific_pa_params"]
        results = _values(part["_non_gpu_data"])
        rate = params.get("request-rate-range")
        loads.append(
            ModelLoad(
                model=model,
                variant=variant,
                batch_size=int(params.get("batch-size") or 1),
                concurrency=None if rate is not None else int(params.get("concurrency-range") or 1),
                request_rate=_number(rate),
                instance_count=config_instance_count(config),
                throughput=_number(results.get("perf_throughput")),
                latency_p99_ms=_number(results.get("perf_latency_p99")),
                latency_p95_ms=_number(results.get("perf_latency_p95")),
                latency_p90_ms=_number(results.get("perf_latency_p90")),
                **config_batching(config),
            )
        )
    # RAM is the server process's, one reading per run: each model's part holds the same.
    ram = next(
        (_values(p["_non_gpu_data"]).get("cpu_used_ram") for p in data["_model_config_measurements"]), None
    )
    return Measurement(
        tuple(loads),
        _number(gpu.get("gpu_used_memory")),
        _number(gpu.get("gpu_utilization")),
        _number(ram),
    )


def _results(path: Path, results: Mapping) -> tuple[list[Measurement], dict[tuple[str, str], dict]]:
    measurements, configs = [], {}
    for models, variants in results.items():
        for variants_name, (run_config, runs) in variants.items():
            try:
                variant_runs = [_variant(run) for run in run_config["_model_run_configs"]]
                measurements += [_measurement(variant_runs, data) for data in runs.values()]
            except (KeyError, TypeError, ValueError) as exc:
                what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
                raise InputError(f"{path}: model {models!r}, config {variants_name!r}: {what}") from None
            configs.update({(model, name): config for model, name, config in variant_runs})
    return measurements, configs


def _server(data: Mapping) -> ServerBaseline:
    """The server alone: the largest reading over the GPUs it was measured on."""
    readings = [_values(records) for records in data.values()]
    memory = [r["gpu_used_memory"] for r in readings if "gpu_used_memory" in r]
    util = [r["gpu_utilization"] for r in readings if "gpu_utilization" in r]
    return ServerBaseline(memory_mb=max(memory, default=None), gpu_util_pct=max(util, default=None))


def _metadata(gpus: Mapping) -> ProfileMetadata:
    names = sorted({g.get("name", "") for g in gpus.values()})
    totals = [g["total_memory"] / BYTES_PER_MB for g in gpus.values() if g.get("total_memory")]
    return ProfileMetadata(
        device="gpu" if gpus else "cpu",
        gpu_name=", ".join(n for n in names if n),
        gpu_memory_mb=min(totals, default=None),
        load_generator=LOAD_GENERATOR,
    )


def read_checkpoint(path: Path) -> Profile:
    """Read a Model Analyzer checkpoint file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not a Model Analyzer checkpoint (not JSON: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get(RESULTS), dict):
        raise InputError(f"{path}: not a Model Analyzer checkpoint (no {RESULTS!r})")
    measurements, configs = _results(path, data[RESULTS].get("_results", {}))
    if not measurements:
        raise InputError(f"{path}: the checkpoint holds no measurements")
    return to_profile(
        measurements, _server(data.get(SERVER, {})), _metadata(data.get(GPUS, {})), str(path), configs
    )
