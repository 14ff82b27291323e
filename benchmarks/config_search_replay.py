"""Replay gpupack's quick config search over a recorded brute search: points, variant loads, best found.

``quick`` is pure logic over a ``measure`` callable (profiler/measure/config_search.py), so a brute
search's profile can stand in for the server: each point quick asks for is read from it. Per model
and per p99 bound, this prints the points quick measures, the variant loads they take in that order
(each a switch on a live server: 1.5-12 s on the 2-core CPU host, more with more instances, against
about 3.5 s a point), and quick's best throughput within the bound over brute's. ``--noise N``
replays N more times with each point's throughput and p99 moved by up to ``--noise-pct`` at random
(seeds 0..N-1), to see how the rules fare when repeated measurements disagree.

    python benchmarks/config_search_replay.py tests/data/config-search/large-space-brute \
        --noise 300

The variants are rebuilt from the points' own columns; batch sizes and concurrencies default to
those recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler.measure.config_search import SearchLimits, quick  # noqa: E402
from profiler.measure.variants import Variant, recorded_variants  # noqa: E402
from profiler.profiles.profile_io import read_profile  # noqa: E402
from profiler.profiles.schema import ProfilePoint  # noqa: E402

Key = tuple[str, int, int]


def _replay(
    points: dict[Key, ProfilePoint], variants: tuple[Variant, ...], bound: float | None
) -> tuple[int, int, float | None]:
    """Points quick measures, the loads they take, its best throughput within the bound over brute's."""
    calls: list[Key] = []

    def measure(v: Variant, b: int, c: int) -> ProfilePoint:
        calls.append((v.name, b, c))
        return points[(v.name, b, c)]

    batches = tuple(sorted({b for _, b, _ in points}))
    concurrencies = tuple(sorted({c for _, _, c in points}))
    outcome = quick(variants, batches, concurrencies, measure, SearchLimits(latency_p99_ms=bound))
    loads = sum(1 for i, call in enumerate(calls) if i == 0 or call[0] != calls[i - 1][0])

    def top(found: list[ProfilePoint]) -> float:
        ok = [p for p in found if p.ok and (bound is None or (p.latency_p99_ms or 0.0) <= bound)]
        return max((p.throughput or 0.0 for p in ok), default=0.0)

    brute_top = top(list(points.values()))
    return len(calls), loads, (top(list(outcome.points)) / brute_top if brute_top else None)


def _noisy(points: dict[Key, ProfilePoint], seed: int, pct: float) -> dict[Key, ProfilePoint]:
    rnd = random.Random(seed)
    spread = pct / 100

    def moved(value: float | None) -> float | None:
        return None if value is None else value * rnd.uniform(1 - spread, 1 + spread)

    return {
        k: dataclasses.replace(p, throughput=moved(p.throughput), latency_p99_ms=moved(p.latency_p99_ms))
        for k, p in points.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile", type=Path, help="a brute search's profile directory (or profile.csv)")
    parser.add_argument("--bounds-ms", default="none,120,150,250,500", help="p99 bounds; none: no bound")
    parser.add_argument("--noise", type=int, default=0, help="noisy replays (seeds 0..N-1)")
    parser.add_argument("--noise-pct", type=float, default=5.0)
    args = parser.parse_args()
    bounds = [None if b == "none" else float(b) for b in args.bounds_ms.split(",")]
    profile = read_profile(args.profile)
    for model in dict.fromkeys(p.model for p in profile.points):
        mine = [p for p in profile.points if p.model == model]
        points = {(p.variant, p.batch_size, p.concurrency): p for p in mine}
        variants = recorded_variants(mine)
        for bound in bounds:
            count, loads, ratio = _replay(points, variants, bound)
            line = (
                f"{model} p99 {bound or 'none'}: {count} of {len(points)} points, {loads} loads, best ratio "
            )
            line += "-" if ratio is None else f"{ratio:.3f}"
            if args.noise:
                runs = [
                    _replay(_noisy(points, seed, args.noise_pct), variants, bound)
                    for seed in range(args.noise)
                ]
                counts, ratios = [r[0] for r in runs], [r[2] for r in runs if r[2] is not None]
                line += (
                    f"; with ±{args.noise_pct:g} % noise ({args.noise} draws): {min(counts)}-{max(counts)} "
                    f"points (mean {statistics.mean(counts):.1f}), {min(r[1] for r in runs)}-"
                    f"{max(r[1] for r in runs)} loads, best ratio min {min(ratios):.3f}, "
                    f"{sum(r < 0.95 for r in ratios)} below 0.95"
                )
            print(line)


if __name__ == "__main__":
    main()
