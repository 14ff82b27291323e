"""The Python steps of gpu_search_llm.sh: its model repository, the plans made from its profiles, tables.

    python benchmarks/gpu_search_llm.py repository --out REPO
    python benchmarks/gpu_search_llm.py plans --search PROFILE --repository REPO --targets FILE --out DIR
    python benchmarks/gpu_search_llm.py merge PROFILE PROFILE... --models a,b,c --out PROFILE
    python benchmarks/gpu_search_llm.py search-table --search PROFILE

``repository`` writes, from ``profiler/examples``:

* ``*_light`` copies of the three GPU examples with fewer views (less GPU work per request, so the
  Python stub's time per request matters and instances and dynamic batching have something to win):
  the config search's models;
* ``fresh_<architecture>`` classification models of architectures no co-location figure was fitted on
  (the classification example with another torchvision ``architecture`` and views);
* ``llm_decoder``, the streaming GPU example, as committed (no memory share: it grows per sequence).

``plans`` plans the search's models three ways with ``gpupack plan --targets --objective min-gpus``:
the as-given config only (1 instance, no dynamic batcher: the variant with the repository's own
config), each model's own best variant (the highest throughput of its search, Model Analyzer's pick)
only, and every variant (gpupack's joint choice); it writes the joint plan's repositories and prints the
GPUs each needs. ``search-table`` prints, per model, the as-given config's best point and the chosen
variant's, with memory per added instance and the measurements made.
Needs gpupack installed (OR-Tools) for ``plans`` only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from tabulate import tabulate

from profiler.profiles.profile_io import read_profile, write_profile
from profiler.profiles.schema import VARIANTS_DIR

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "profiler" / "examples"
CONFIG = "config.pbtxt"
# Model -> views of its light copy: the search's models.
LIGHT = {"classification_resnet50": 2, "classification_resnet18": 4, "segmentation_unet3d": 1}
# Architectures the co-location figures were not fitted on (fitted: resnet50, resnet18, unet3d), with views
# chosen so that each takes a part of an H200, not all of it.
FRESH = {
    "mobilenet_v3_large": 8,
    "efficientnet_b0": 8,
    "convnext_tiny": 4,
    "vit_b_16": 2,
    "regnet_y_800mf": 8,
}
_PARAMETER = r'(key: "{key}", value: {{ string_value: ")[^"]*(" }})'


def _set_parameter(text: str, key: str, value: str) -> str:
    text, found = re.subn(_PARAMETER.format(key=key), rf"\g<1>{value}\g<2>", text)
    if found != 1:
        raise SystemExit(f"no {key} parameter to set")
    return text


def _copy(out: Path, source: str, name: str, **parameters: str) -> None:
    shutil.copytree(EXAMPLES / source, out / name, ignore=shutil.ignore_patterns("__pycache__"))
    config = out / name / CONFIG
    text = "\n".join(line for line in config.read_text().splitlines() if not line.startswith("name:"))
    for key, value in parameters.items():
        text = _set_parameter(text, key, value)
    config.write_text(f'name: "{name}"\n{text}\n')


def repository(args: argparse.Namespace) -> int:
    """The light copies, the fresh architectures and the LLM example, under their own names."""
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    for model, views in LIGHT.items():
        _copy(args.out, model, f"{model}_light", views=str(views))
    for architecture, views in FRESH.items():
        _copy(
            args.out,
            "classification_resnet50",
            f"fresh_{architecture}",
            architecture=architecture,
            views=str(views),
        )
    _copy(args.out, "llm_decoder", "llm_decoder")
    print(f"repository: {', '.join(sorted(p.name for p in args.out.iterdir()))} in {args.out}")
    return 0


def _as_given(point) -> bool:
    return point.instance_count == 1 and not point.dynamic_batching


def _best_variant(points, p99_ms: float) -> str:
    """The variant whose best point under the p99 bound serves the most: each model's pick alone."""
    best = max((p for p in points if p.ok and p.latency_p99_ms <= p99_ms), key=lambda p: p.throughput)
    return best.variant


def _subset(profile, keep) -> object:
    return dataclasses.replace(profile, points=tuple(p for p in profile.points if keep(p)))


def _write(profile, sources: list[Path], directory: Path) -> None:
    """``profile`` into ``directory``, with the sources' scratch repositories of variants beside it."""
    write_profile(profile, directory)
    for variants in (source / VARIANTS_DIR for source in sources):
        if variants.is_dir():
            shutil.copytree(variants, directory / VARIANTS_DIR, symlinks=True, dirs_exist_ok=True)


def _plan(profile_dir: Path, targets: Path, extra: list[str]) -> dict:
    command = [sys.executable, "-m", "cli", "plan", "--profiles", str(profile_dir), "--targets", str(targets),
               "--objective", "min-gpus", "--choose-points", "--json", *extra]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode not in (0, 1):
        raise SystemExit(f"gpupack plan failed ({result.returncode}): {result.stderr.strip()}")
    return json.loads(result.stdout)


def _variant(instances: int, batcher: bool | None, delay_us: int | None) -> str:
    return f"{instances} inst, batcher " + (f"on {delay_us} us" if batcher else "off")


def _label(placed: dict) -> str:
    """A planned replica as ``model: variant, concurrency``."""
    variant = _variant(
        placed["instance_count"], placed.get("dynamic_batching"), placed.get("max_queue_delay_us")
    )
    return f"{placed['name']}: {variant}, c{placed['concurrency']}"


def plans(args: argparse.Namespace) -> int:
    """GPUs for the as-given configs, each model's own best variant, and the joint choice."""
    profile = read_profile(args.search)
    models = [m for m in profile.models() if m.endswith("_light")]
    profile = _subset(profile, lambda p: p.model in models)
    targets = yaml.safe_load(args.targets.read_text())
    bounds = {
        m: (t.get("max_latency_p99_ms") if isinstance(t, dict) else None) or math.inf
        for m, t in targets.items()
    }
    best = {m: _best_variant(profile.points_for(m), bounds.get(m, math.inf)) for m in models}
    ways = {
        "as-given config": _subset(profile, _as_given),
        "own best variant": _subset(profile, lambda p: p.variant == best[p.model]),
        "joint choice": None,  # the search's own directory
    }
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, subset in ways.items():
            directory = args.search
            if subset is not None:
                directory = Path(scratch) / name.replace(" ", "-")
                _write(subset, [args.search], directory)
            extra = []
            if name == "joint choice":
                extra = ["--model-repository", str(args.repository), "--write-repositories", str(args.out)]
            plan = _plan(directory, args.targets, extra)
            variants = sorted({_label(p) for g in plan["gpus"] for p in g["models"]})
            rows.append([name, len(plan["gpus"]), plan.get("lower_bound", ""), "; ".join(variants)])
    print(tabulate(rows, headers=["CONFIGS", "GPUS", "BOUND", "CHOSEN"], disable_numparse=True))
    return 0


def merge(args: argparse.Namespace) -> int:
    """One profile of ``--models`` from each source (the first's server and metadata): plan them together."""
    first = read_profile(args.sources[0])
    points = []
    for source in args.sources:
        points += [p for p in read_profile(source).points if p.model in args.models.split(",")]
    _write(dataclasses.replace(first, points=tuple(points)), args.sources, args.out)
    print(f"{len(points)} rows of {args.models} in {args.out}")
    return 0


def search_table(args: argparse.Namespace) -> int:
    """Per model: the as-given config's best point beside the best variant's, memory per instance."""
    profile = read_profile(args.search)
    rows = []
    for model in profile.models():
        points = [p for p in profile.points_for(model) if p.ok]
        if not points or not model.endswith("_light"):
            continue
        given = [p for p in points if _as_given(p)]
        g = max(given, key=lambda p: p.throughput) if given else None
        b = max(points, key=lambda p: p.throughput)
        by_instances = {}
        for p in points:
            by_instances.setdefault(p.instance_count, []).append(p.memory_mb or 0)
        ones, twos = max(by_instances.get(1, [0])), max(by_instances.get(2, [0]))
        rows.append([
            model, len(profile.points_for(model)), len({p.variant for p in points}),
            f"{g.throughput:.0f} @ c{g.concurrency} p99 {g.latency_p99_ms:.1f}" if g else "",
            f"{b.throughput:.0f} @ c{b.concurrency} p99 {b.latency_p99_ms:.1f}",
            _variant(b.instance_count, b.dynamic_batching, b.max_queue_delay_us),
            f"{twos - ones:.0f}" if ones and twos else "",
        ])  # fmt: skip
    headers = ["MODEL", "POINTS", "VARIANTS", "AS GIVEN (INFER/S)", "BEST (INFER/S)", "BEST VARIANT",
               "MB PER ADDED INSTANCE"]  # fmt: skip
    print(tabulate(rows, headers=headers, disable_numparse=True))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("repository")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("plans")
    p.add_argument("--search", type=Path, required=True)
    p.add_argument("--repository", type=Path, required=True)
    p.add_argument("--targets", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("merge")
    p.add_argument("sources", type=Path, nargs="+")
    p.add_argument("--models", required=True)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("search-table")
    p.add_argument("--search", type=Path, required=True)
    args = parser.parse_args()
    commands = {"repository": repository, "plans": plans, "merge": merge, "search-table": search_table}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
