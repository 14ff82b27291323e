"""Run gpupack's config search (brute or quick) on a model repository; print what it measured and found.

`gpupack profile --search` is the search's command line; this script runs the same search and
prints its result as JSON (benchmarks read it). It recorded tests/data/config-search/ on the
2-core CPU host (the README there has the command);
benchmarks/config_search_device.sh runs it on the GPU host's quieter CPUs (written, not yet run:
no device was lent to the session that wrote it).

    python benchmarks/config_search.py --model-repository profiler/examples --models batched_sleeper \
        --mode quick --output /tmp/search --batch 1,2 --concurrency 1,2,4,8,16 --max-instances 3 \
        --queue-delays-us 0,10000 --p99-ms 60

The last line printed is JSON: mode, wall time, points measured, each model's best point.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler.measure.loadgen import MeasureSettings  # noqa: E402
from profiler.measure.report import progress_line  # noqa: E402
from profiler.measure.request import ProfileRequest  # noqa: E402
from profiler.measure.search_run import SearchRequest, run_config_search  # noqa: E402
from profiler.measure.variants import VariantSpace  # noqa: E402


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


class _Printer:
    def progress(self, event: object) -> None:
        print(progress_line(event), file=sys.stderr, flush=True)  # type: ignore[arg-type]

    def notice(self, message: str) -> None:
        print(f"note: {message}", file=sys.stderr, flush=True)


def main() -> None:
    """Parse the options, run the search, print the result."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-repository", type=Path, required=True)
    p.add_argument("--models", required=True)
    p.add_argument("--mode", choices=["brute", "quick"], default="quick")
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--batch", default="1")
    p.add_argument("--concurrency", default="1,2,4,8")
    p.add_argument("--max-instances", type=int, default=4)
    p.add_argument("--queue-delays-us", default="0,100,1000")
    p.add_argument("--max-batch-sizes", default="")
    p.add_argument("--p99-ms", type=float, help="the p99 bound of every model, ms")
    p.add_argument("--window", type=float, default=1.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--max-windows", type=int, default=6)
    p.add_argument("--triton-server", type=Path)
    p.add_argument("--backend-python", type=Path)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    models = tuple(a.models.split(","))
    request = SearchRequest(
        ProfileRequest(
            models=models,
            batch_sizes=_ints(a.batch),
            concurrencies=_ints(a.concurrency),
            output=a.output,
            model_repository=a.model_repository,
            triton_server=a.triton_server,
            backend_python=a.backend_python,
            settings=MeasureSettings(window_s=a.window, warmup_s=a.warmup, max_windows=a.max_windows),
            resume=a.resume,
            reload_per_batch=False,
        ),
        mode=a.mode,
        space=VariantSpace(a.max_instances, _ints(a.queue_delays_us), _ints(a.max_batch_sizes)),
        latency_bounds_ms=tuple((m, a.p99_ms) for m in models) if a.p99_ms else (),
    )
    started = time.monotonic()
    result = run_config_search(request, _Printer())
    print(result.summary())
    print(
        json.dumps(
            {
                "mode": a.mode,
                "wall_s": round(time.monotonic() - started, 1),
                "measured": result.measured,
                "failed": result.failed,
                "pruned": list(result.pruned),
                "best": {m: dataclasses.asdict(b) if b else None for m, b in result.best},
            }
        )
    )


if __name__ == "__main__":
    main()
