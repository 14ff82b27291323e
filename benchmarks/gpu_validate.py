"""The Python steps of gpu_validate.sh: a repository of model copies, and what its profile says.

    python benchmarks/gpu_validate.py repository --source DIR --models a,b,c --copies 2 --out OUT/repository \
        [--light a=4,b=1]
    python benchmarks/gpu_validate.py clone --profile OUT/profile --repository OUT/repository
    python benchmarks/gpu_validate.py alone --profile OUT/profile

Copies are named ``<model>_a``, ``<model>_b``, ... (directory and config ``name``). Only the ``_a``
copies are profiled (``gpupack profile``, by the script): the others are byte-identical models, so
``clone`` gives them the ``_a`` rows under their own names (the profile's notes say so); that keeps the
GPU phase within its budget. ``--light MODEL=VIEWS`` adds a ``<model>_light`` copy whose config
``views`` parameter is VIEWS: the same network with less GPU work per request, a model that can share
a GPU; it is a different model and is profiled itself. ``alone`` prints each measured model at its
largest batch and concurrency: how much of the GPU one model takes by itself.
Needs neither an installed gpupack nor OR-Tools.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import string
import sys
from pathlib import Path

from tabulate import tabulate

from profiler.profiles.profile_io import read_profile, write_profile

CONFIG = "config.pbtxt"
MEASURED_SUFFIX = "_a"
LIGHT_SUFFIX = "_light"
_CLONE_NOTE = "; rows of "
_VIEWS = re.compile(r'(key: "views", value: \{ string_value: ")[0-9]+(" \})')


def _copy_name(model: str, copy: int) -> str:
    return f"{model}_{string.ascii_lowercase[copy]}"


def _copy(args: argparse.Namespace, model: str, name: str, views: str | None = None) -> None:
    shutil.copytree(args.source / model, args.out / name, ignore=shutil.ignore_patterns("__pycache__"))
    config = args.out / name / CONFIG
    text = "\n".join(line for line in config.read_text().splitlines() if not line.startswith("name:"))
    if views is not None:
        text, found = _VIEWS.subn(rf"\g<1>{views}\g<2>", text)
        if found != 1:
            raise SystemExit(f"{model}: no views parameter to set in its {CONFIG}")
    config.write_text(f'name: "{name}"\n{text}\n')


def repository(args: argparse.Namespace) -> int:
    """Copy each model ``--copies`` times under new names (directory and config ``name``), plus lights."""
    if args.out.exists():
        shutil.rmtree(args.out)
    for model in args.models.split(","):
        for copy in range(args.copies):
            _copy(args, model, _copy_name(model, copy))
    for item in filter(None, args.light.split(",")):
        model, views = item.split("=")
        _copy(args, model, model + LIGHT_SUFFIX, views)
    print(f"repository: {', '.join(sorted(p.name for p in args.out.iterdir()))} in {args.out}")
    return 0


def clone(args: argparse.Namespace) -> int:
    """Give every copy other than ``_a`` the rows of its ``_a`` copy, under its own name."""
    written = read_profile(args.profile)
    measured = [p for p in written.points if p.model.endswith(MEASURED_SUFFIX)]
    copies = sorted(p.name for p in args.repository.iterdir() if re.search(r"_[b-z]$", p.name))
    kept = [p for p in written.points if p.model not in copies]
    clones = [
        dataclasses.replace(p, model=copy)
        for copy in copies
        for p in measured
        if copy.rsplit("_", 1)[0] == p.model.rsplit("_", 1)[0]
    ]
    notes = written.metadata.notes.split(_CLONE_NOTE)[0]
    notes += f"{_CLONE_NOTE}{', '.join(copies)} are the measurements of their identical _a copies"
    metadata = dataclasses.replace(written.metadata, notes=notes)
    write_profile(dataclasses.replace(written, points=tuple(kept + clones), metadata=metadata), args.profile)
    print(f"{len(clones)} rows cloned for {', '.join(copies)} in {args.profile}")
    return 0


def alone(args: argparse.Namespace) -> int:
    """Each measured model alone at its largest batch size and concurrency: does it load the GPU?"""
    written = read_profile(args.profile)
    rows = []
    for model in written.models():
        points = [p for p in written.points_for(model) if p.ok]
        if not points or not model.endswith((MEASURED_SUFFIX, LIGHT_SUFFIX)):
            continue
        p = max(points, key=lambda p: (p.batch_size, p.concurrency))
        rows.append(
            [model, p.batch_size, p.concurrency, f"{p.throughput:.1f}", p.gpu_util_pct, p.sm_activity_pct,
             p.memory_mb, p.server_cpu_pct]
        )  # fmt: skip
    headers = ["MODEL (ALONE)", "BATCH", "CONC", "THROUGHPUT (INFER/S)", "GPU UTIL (%)", "SM ACTIVITY (%)",
               "GPU MEMORY (MB)", "SERVER CPU (%)"]  # fmt: skip
    print(tabulate(rows, headers=headers, disable_numparse=True, missingval=""))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("repository", help="copy the models under new names")
    p.add_argument("--source", type=Path, required=True)
    p.add_argument("--models", required=True)
    p.add_argument("--copies", type=int, default=2)
    p.add_argument("--light", default="", help="MODEL=VIEWS,...: a <model>_light copy with that many views")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("clone", help="rows of the _a copies for the other copies")
    p.add_argument("--profile", type=Path, required=True)
    p.add_argument("--repository", type=Path, required=True)
    p = sub.add_parser("alone", help="each measured model alone at its largest point")
    p.add_argument("--profile", type=Path, required=True)
    args = parser.parse_args()
    return {"repository": repository, "clone": clone, "alone": alone}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
