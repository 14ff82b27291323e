"""``gpupack validate``'s output: validation.json, validation.csv, the tables and the progress line.

Pure functions from a ``ValidationResult`` to text; the CLI prints, ``validate`` writes the files.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tabulate import tabulate

# Re-exported: the CLI names the file it wrote (the layout belongs to plan_dir).
from profiler.base.plan_dir import VALIDATION_CSV, VALIDATION_JSON  # noqa: F401
from profiler.base.schema_version import versioned
from profiler.measure.report import clock
from profiler.validation.records import GpuCheck, ModelCheck, ValidationResult

_ERROR_WIDTH = 60


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def model_record(model: ModelCheck, min_ratio: float) -> dict[str, object]:
    """One model as JSON (documented in the README, "Validating a plan")."""
    return {
        "name": model.name,
        "batch_size": model.batch_size,
        "concurrency": model.concurrency,
        "promised_throughput": _round(model.promised_throughput, 2),
        "measured_throughput": _round(model.measured_throughput, 2),
        "ratio": _round(model.ratio),
        "short": model.short(min_ratio),
        "p50_ms": _round(model.p50_ms, 2),
        "p99_ms": _round(model.p99_ms, 2),
        "stable": model.stable,
        "failed_requests": model.failed_requests,
        "error": model.error,
        "request_rate": model.request_rate,
    } | _tokens_record(model)


def _tokens_record(model: ModelCheck) -> dict[str, object]:
    """A streaming model's token figures, promised and measured (none for a classic model)."""
    t = model.tokens
    if t is None:
        return {}
    return {
        "promised_tokens_per_s": _round(t.promised_tokens_per_s, 2),
        "measured_tokens_per_s": _round(t.measured_tokens_per_s, 2),
        "tokens_ratio": _round(t.tokens_ratio),
        "promised_ttft_p99_ms": _round(t.promised_ttft_p99_ms, 2),
        "ttft_p50_ms": _round(t.ttft_p50_ms, 2),
        "ttft_p99_ms": _round(t.ttft_p99_ms, 2),
        "promised_itl_p99_ms": _round(t.promised_itl_p99_ms, 2),
        "itl_p50_ms": _round(t.itl_p50_ms, 2),
        "itl_p99_ms": _round(t.itl_p99_ms, 2),
    }


def gpu_record(gpu: GpuCheck, min_ratio: float) -> dict[str, object]:
    """One GPU as JSON, its models included."""
    use = gpu.use
    return {
        "index": gpu.index,
        "device": gpu.device,
        "promised_throughput": _round(gpu.promised_throughput, 2),
        "measured_throughput": _round(gpu.measured_throughput, 2),
        "ratio": _round(gpu.ratio),
        "short": gpu.short(min_ratio),
        "peak_memory_mb": _round(use.memory_mb, 1),
        "planned_memory_mb": _round(gpu.planned_memory_mb, 1),
        "memory_ratio": _round(gpu.memory_ratio),
        "peak_process_memory_mb": _round(use.process_memory_mb, 1),
        "reserved_memory_mb": _round(gpu.reserved_memory_mb, 1),
        "planned_gpu_utilization_pct": _round(gpu.planned_gpu_util_pct, 1),
        "max_gpu_utilization_pct": use.gpu_util_pct,
        "max_memory_utilization_pct": use.mem_util_pct,
        "max_sm_activity_pct": _round(use.sm_activity_pct, 1),
        "max_host_memory_mb": _round(use.host_memory_mb, 1),
        "max_server_cpu_pct": use.server_cpu_pct,
        "load_failure": gpu.load_failure,
        "oom": gpu.oom,
        "error": gpu.error,
        "models": [model_record(m, min_ratio) for m in gpu.models],
    }


def validation_json(result: ValidationResult) -> str:
    """The whole result as JSON (``schema_version`` first): how it ran, the verdict, every GPU and model."""
    document = {
        "directory": result.directory,
        "holds": result.holds,
        "short_gpus": list(result.short_gpus),
        "min_ratio": result.min_ratio,
        "mode": result.mode,
        "device": result.device,
        "gpu_name": result.gpu_name,
        "load_generator": result.load_generator,
        "elapsed_s": round(result.elapsed_s, 1),
        "interrupted": result.interrupted,
        "notes": list(result.notes),
        "gpus": [gpu_record(g, result.min_ratio) for g in result.gpus],
    }
    return json.dumps(versioned(document), indent=2) + "\n"


_GPU_CSV_KEYS = (
    "promised_throughput", "measured_throughput", "ratio", "short", "peak_memory_mb", "planned_memory_mb",
    "peak_process_memory_mb", "max_gpu_utilization_pct", "max_memory_utilization_pct", "max_sm_activity_pct",
    "max_host_memory_mb", "max_server_cpu_pct", "load_failure", "oom", "error",
)  # fmt: skip


def validation_csv(result: ValidationResult) -> str:
    """One row per model; its GPU's columns repeated on each of the GPU's rows (prefixed ``gpu_``)."""
    rows = []
    for gpu in result.gpus:
        record = gpu_record(gpu, result.min_ratio)
        gpu_columns = {f"gpu_{key}": record[key] for key in _GPU_CSV_KEYS}
        for model in record["models"]:  # type: ignore[union-attr]
            rows.append({"gpu": gpu.index, **model, **gpu_columns})  # type: ignore[dict-item]
    out = io.StringIO()
    model_keys = dict.fromkeys(model_record(ModelCheck("", 1, 1, 0.0), 0.0))
    for row in rows:  # streaming models add their token columns
        model_keys |= dict.fromkeys(k for k in row if k != "gpu" and not k.startswith("gpu_"))
    fields = ["gpu", *model_keys, *(f"gpu_{k}" for k in _GPU_CSV_KEYS)]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def _csv_cell(value: object) -> object:
    """As profile.csv writes them: empty for unknown, true/false for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _number(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


def _verdict(failed: str, short: bool) -> str:
    if failed:
        return "FAILED: " + (failed if len(failed) <= _ERROR_WIDTH else failed[: _ERROR_WIDTH - 3] + "...")
    return "SHORT" if short else "ok"


@dataclass(frozen=True)
class _Column:
    header: str
    cell: Callable[[GpuCheck], str]


_GPU_COLUMNS = (
    _Column("PEAK MEMORY (MB)", lambda g: _number(g.use.memory_mb, 0)),
    _Column("PLANNED MEMORY (MB)", lambda g: _number(g.planned_memory_mb, 0)),
    _Column("PROCESS GPU MEMORY (MB)", lambda g: _number(g.use.process_memory_mb, 0)),
    _Column("GPU UTIL (%)", lambda g: _number(g.use.gpu_util_pct, 0)),
    _Column("MEM UTIL (%)", lambda g: _number(g.use.mem_util_pct, 0)),
    _Column("SM ACTIVITY (%)", lambda g: _number(g.use.sm_activity_pct, 1)),
    _Column("SERVER CPU (%)", lambda g: _number(g.use.server_cpu_pct, 0)),
    _Column("HOST MEMORY (MB)", lambda g: _number(g.use.host_memory_mb, 0)),
)


def _load(model: ModelCheck) -> object:
    """The CONCURRENCY cell: the concurrency, or an open-loop point's rate (``20/s``)."""
    return model.concurrency if model.request_rate is None else f"{model.request_rate:g}/s"


def models_table(result: ValidationResult) -> str:
    """Promised against measured, one row per model, GPU by GPU (token columns when LLMs are planned)."""
    streaming = any(m.tokens is not None for gpu in result.gpus for m in gpu.models)
    rows = [
        [gpu.index, m.name, m.batch_size, _load(m), _number(m.promised_throughput, 1),
         _number(m.measured_throughput, 1), _number(m.ratio, 2), _number(m.p50_ms, 1), _number(m.p99_ms, 1),
         *(_token_cells(m) if streaming else ()), _verdict(m.error, m.short(result.min_ratio))]
        for gpu in result.gpus
        for m in gpu.models
    ]  # fmt: skip
    headers = ["GPU", "MODEL", "BATCH", "CONCURRENCY", "PROMISED (INFER/S)", "MEASURED (INFER/S)", "RATIO",
               "P50 (MS)", "P99 (MS)", *(_TOKEN_HEADERS if streaming else ()), "VERDICT"]  # fmt: skip
    return tabulate(
        rows, headers=headers, disable_numparse=True, colalign=_align(headers, {"MODEL", "VERDICT"})
    )


_TOKEN_HEADERS = (
    "PROMISED (TOKENS/S)",
    "MEASURED (TOKENS/S)",
    "TTFT P99 PLANNED (MS)",
    "TTFT P99 (MS)",
    "ITL P99 PLANNED (MS)",
    "ITL P99 (MS)",
)


def _token_cells(m: ModelCheck) -> list[str]:
    t = m.tokens
    if t is None:
        return [""] * len(_TOKEN_HEADERS)
    return [
        _number(t.promised_tokens_per_s, 1),
        _number(t.measured_tokens_per_s, 1),
        _number(t.promised_ttft_p99_ms, 1),
        _number(t.ttft_p99_ms, 1),
        _number(t.promised_itl_p99_ms, 1),
        _number(t.itl_p99_ms, 1),
    ]


def gpus_table(result: ValidationResult) -> str:
    """One row per GPU: totals, memory against the plan, utilizations; columns never measured left out."""
    columns = [c for c in _GPU_COLUMNS if any(c.cell(g) for g in result.gpus)]
    rows = [
        [gpu.index, len(gpu.models), _number(gpu.promised_throughput, 1), _number(gpu.measured_throughput, 1),
         _number(gpu.ratio, 2), *(c.cell(gpu) for c in columns),
         _verdict(gpu.error, gpu.short(result.min_ratio))]
        for gpu in result.gpus
    ]  # fmt: skip
    headers = ["GPU", "MODELS", "PROMISED (INFER/S)", "MEASURED (INFER/S)", "RATIO",
               *(c.header for c in columns), "VERDICT"]  # fmt: skip
    return tabulate(rows, headers=headers, disable_numparse=True, colalign=_align(headers, {"VERDICT"}))


def _align(headers: Sequence[str], left: set[str]) -> list[str]:
    return ["left" if h in left else "right" for h in headers]


def summary_line(result: ValidationResult, where: str) -> str:
    """The line under the tables: how it ran, the verdict, where the files are."""
    count = len(result.gpus)
    text = f"{count} GPU{'s' if count != 1 else ''} validated {result.mode} in {result.elapsed_s:.0f} s: "
    short = result.short_gpus
    if not result.gpus:
        text += "nothing measured"
    elif short:
        text += f"GPU {', '.join(map(str, short))} fall{'s' if len(short) == 1 else ''} short"
        text += f" (below {result.min_ratio:.2f} of the promised throughput, or failed)"
    else:
        text += f"the plan holds (every model and GPU at ≥ {result.min_ratio:.2f} of its promise)"
    if result.interrupted:
        text += " (interrupted)"
    return f"{text}; {where}"


def validation_report(result: ValidationResult, where: str) -> str:
    """Both tables and the summary."""
    return "\n".join([models_table(result), "", gpus_table(result), "", summary_line(result, where)])


def progress_line(
    done: int, total: int, gpus: Sequence[GpuCheck], elapsed_s: float, eta_s: float | None
) -> str:
    """``[1/2] GPU 0: 195.3 of 200.0 infer/s promised (0.98) | elapsed 0:12, ETA 0:12``."""
    parts = []
    for gpu in gpus:
        what = (
            f"failed: {_verdict(gpu.error, False)[8:]}"
            if gpu.error
            else (
                f"{gpu.measured_throughput:.1f} of {gpu.promised_throughput:.1f} infer/s promised "
                f"({_number(gpu.ratio, 2) or '-'})"
            )
        )
        parts.append(f"GPU {gpu.index}: {what}")
    return f"[{done}/{total}] {'; '.join(parts)} | elapsed {clock(elapsed_s)}, ETA {clock(eta_s)}"
