"""Write the example profiles under examples/profiles/ from the built-in seed (synthetic numbers).

The seed profile measures one point per model (batch 2, concurrency 4) on a 16 GB GPU. These
examples stretch it into three points per model on two made-up GPU types, for trying the planner's
configuration choice, targets and mixed fleets; they are not measurements.

* ``small-16gb``: batch 1/concurrency 1, the seed's 2/4, and 4/8. Relative to the seed point, the
  smaller point has 0.45× the throughput, 0.8× the model's own memory, 0.55× the utilizations; the
  larger one 1.45×, 1.4× and 1.35× (capped at 100 %).
* ``large-48gb``: the same points, 2.5× the throughput and 1/2.5 the utilizations and latency.

p99 latency follows Little's law with a 1.5× tail: 1.5 × batch × concurrency / throughput.
Run from the repository root: ``.venv/bin/python examples/make_profiles.py``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

from packer.service import BUILTIN_PROFILE
from profiler.profiles.profile_io import read_profile, write_profile
from profiler.profiles.schema import Profile, ProfileMetadata, ProfilePoint

# (batch, concurrency, throughput ×, own memory ×, utilization ×) relative to the seed's point
POINTS = ((1, 1, 0.45, 0.8, 0.55), (2, 4, 1.0, 1.0, 1.0), (4, 8, 1.45, 1.4, 1.35))
TYPES = {"small-16gb": (16000, 1.0), "large-48gb": (48000, 2.5)}  # memory MB, speed-up
TAIL = 1.5


def derive(seed: Profile, memory_mb: float, speedup: float) -> Profile:
    """The seed stretched to POINTS on a GPU ``speedup`` times as fast."""
    server = seed.server.memory_mb or 0.0
    points = []
    for p in seed.points:
        for batch, concurrency, tp, mem, util in POINTS:
            throughput = round(p.throughput * tp * speedup, 2)
            points.append(
                ProfilePoint(
                    model=p.model,
                    batch_size=batch,
                    concurrency=concurrency,
                    throughput=throughput,
                    latency_p99_ms=round(TAIL * batch * concurrency / throughput * 1000, 1),
                    gpu_util_pct=round(min(100.0, p.gpu_util_pct * util / speedup), 1),
                    mem_util_pct=round(min(100.0, p.mem_util_pct * util / speedup), 1),
                    memory_mb=round(server + (p.memory_mb - server) * mem),
                )
            )
    metadata = ProfileMetadata(
        device="gpu",
        gpu_name=f"synthetic {memory_mb / 1000:g} GB GPU",
        gpu_memory_mb=memory_mb,
        notes="Synthetic, derived from the seed blog profile by examples/make_profiles.py; not measured.",
    )
    return dataclasses.replace(seed, points=tuple(points), metadata=metadata)


def drop_empty_columns(path: Path) -> None:
    """Keep only the columns some row fills: shorter files, and only columns the reader has long known."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    keep = [c for c in range(len(rows[0])) if any(row[c] for row in rows[1:])]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[row[c] for c in keep] for row in rows])
    path.write_text(out.getvalue())


def main() -> None:
    """Write every type's profile under examples/profiles/."""
    seed = read_profile(BUILTIN_PROFILE)
    for name, (memory_mb, speedup) in TYPES.items():
        directory = Path(__file__).parent / "profiles" / name
        write_profile(derive(seed, memory_mb, speedup), directory)
        for file in ("profile.csv", "server-only.csv"):
            drop_empty_columns(directory / file)


if __name__ == "__main__":
    main()
