"""Write the report: one self-contained HTML file, and the same figures as PNGs beside it.

``FILE.html`` embeds every figure as a PNG data URI (it can be mailed alone) and the figures' data
as JSON (``<script id="figure-data">``); ``FILE_files/`` holds the PNGs (each ``<img>`` names its
file in ``data-file``) and ``figures.json``. Both are written atomically: the folder is built
under a temporary name and renamed into place, the HTML goes through ``write_atomic``.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packer.reports.draw import bound_png, gpu_png, model_png
from packer.reports.draw_fleet import fleet_png
from packer.reports.draw_validation import memory_png, throughput_png
from packer.reports.figures import ModelFigure, ReportData
from packer.reports.validation import Promise, ValidationData
from profiler import cannot_write, ensure_directory, write_atomic

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
img { max-width: 100%; } figcaption { font-size: 0.85em; color: #555; }
li { margin: 0.2em 0; }
"""


# A note naming models names at most this many (a fleet of thousands would make it a page long).
NAMED_MAX = 12


@dataclass(frozen=True)
class WrittenReport:
    """The HTML file and the PNGs beside it, in the order they appear."""

    html: Path
    images: tuple[Path, ...]


def drawable(model: ModelFigure) -> bool:
    """True when the model has a point with a p99 latency to draw."""
    return bool(model.chosen or any(dots for _, dots in model.measured))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _validation_figures(data: ValidationData) -> list[tuple[str, str, str, bytes]]:
    if not data.models:  # interrupted before its first GPU: nothing to draw
        return []
    ratio = data.min_ratio
    where = f"measured by gpupack validate ({data.source})"
    out = [
        (
            "Validation",
            "validation-models.png",
            f"each model on its GPU: measured against promised throughput, {where}",
            throughput_png(data.models, ratio, "models on their GPUs"),
        ),
        (
            "Validation",
            "validation-gpus.png",
            "each GPU: its models' measured throughput against their promise, summed",
            throughput_png(data.gpus, ratio, "GPUs"),
        ),
    ]
    if any(m.peak_mb is not None and m.planned_mb is not None for m in data.memory):
        caption = "each GPU: peak memory measured against the memory the plan said it holds"
        out.append(("Validation", "validation-memory.png", caption, memory_png(data.memory)))
    return out


def _figures(data: ReportData) -> list[tuple[str, str, str, bytes]]:
    """(section, file name, caption, PNG) for every figure, in report order."""
    out = [("Plan and bound", "bound.png", data.summary, bound_png(data.bound))]
    caption = "every GPU's fill of each resource, the GPUs sorted by memory fill; how many GPUs are how full"
    out.append(("Fleet", "fleet.png", caption, fleet_png(data.fleet)))
    for gpu in data.gpus:
        caption = f"GPU {gpu.index} ({gpu.gpu_type}): server and each model's own share"
        out.append(("GPUs", f"gpu-{gpu.index}.png", caption, gpu_png(gpu)))
    for model in data.models:
        if not drawable(model):
            continue
        caption = f"{model.model}: every profiled point; the chosen one(s) starred"
        out.append(("Models", f"model-{_slug(model.model)}.png", caption, model_png(model)))
    if data.validation:
        out += _validation_figures(data.validation)
    return out


def _ratio(p: Promise) -> str:
    if p.measured is None:
        return "failed"
    return "nothing promised" if p.ratio is None else f"{p.ratio:.3f}"


def validation_line(data: ValidationData) -> str:
    """How many models and GPUs fell short, and the worst of them by name (at most ``NAMED_MAX``)."""
    line = (
        f"{data.short_models:,} of {len(data.models):,} models (each on its GPU) and {data.short_gpus:,} of "
        f"{len(data.gpus):,} GPUs fell short (failed, or measured below {data.min_ratio:g} × promised)"
    )
    short = sorted((p for p in data.models if p.short), key=lambda p: p.ratio or 0.0)
    if not short:
        return line + "."
    named = ", ".join(f"GPU {p.gpu} {p.model} ({_ratio(p)})" for p in short[:NAMED_MAX])
    more = f" and {len(short) - NAMED_MAX:,} more" if len(short) > NAMED_MAX else ""
    return f"{line}; the worst, measured / promised: {named}{more}."


def _html(title: str, data: ReportData, figures: list[tuple[str, str, str, bytes]], folder: str) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(data.summary)}</p>",
    ]
    notes = [*data.notes, *data.left_out]
    blank = [m.model for m in data.models if not drawable(m)]
    if blank:
        named = ", ".join(blank[:NAMED_MAX]) + (
            f" and {len(blank) - NAMED_MAX:,} more" if len(blank) > NAMED_MAX else ""
        )
        notes.append(f"no p99 latency in the profile, so no throughput–latency figure: {named}")
    if notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    section = None
    for name, file, caption, png in figures:
        if name != section:
            parts.append(f"<h2>{html.escape(name)}</h2>")
            if name == "Validation" and data.validation:
                parts.append(f"<p>{html.escape(validation_line(data.validation))}</p>")
            section = name
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure><img src="{uri}" alt="{html.escape(caption)}" data-file="{html.escape(folder)}/{file}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    figure_data = json.dumps(data.to_dict(), indent=1).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="figure-data">{figure_data}</script>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(data: ReportData, output: Path, title: str = "gpupack plan report") -> WrittenReport:
    """Write ``output`` (HTML) and ``<stem>_files/`` beside it (module docstring)."""
    figures = _figures(data)
    folder = output.with_name(f"{output.stem}_files")
    ensure_directory(output.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=output.parent))
    except OSError as exc:
        raise cannot_write(folder, exc) from None
    try:
        tmp.chmod(0o755)
        for _, file, _, png in figures:
            (tmp / file).write_bytes(png)
        (tmp / "figures.json").write_text(json.dumps(data.to_dict(), indent=2) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except OSError as exc:  # a full or read-only disk: one line, nothing left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise cannot_write(folder, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_atomic(output, _html(title, data, figures, folder.name))
    return WrittenReport(output, tuple(folder / file for _, file, _, _ in figures))
