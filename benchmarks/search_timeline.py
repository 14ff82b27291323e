"""Where a config search's wall time goes: ``gpupack profile --search ...`` with every step timed.

Runs gpupack's command line in this process with the server, load and measurement steps wrapped so
that each writes one line with its start (seconds since the run began) and duration to stderr:
server start/restart, model load/unload, each point's measurement (windows, stable or not, warm-up,
the drain of the last requests), and the time left between points (recording, the search's own
logic). At the end, the totals per kind of step.

    .venv/bin/python benchmarks/search_timeline.py profile --search quick --model-repository ... \
        2> timeline.txt

The arguments are ``gpupack``'s. A diagnostic, not a benchmark: nothing is written to results/.
"""

from __future__ import annotations

import functools
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cli  # noqa: E402
from profiler.measure import loadgen  # noqa: E402
from profiler.server import launcher, triton  # noqa: E402

T0 = time.monotonic()
TOTALS: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)
_last_end = [T0]


def _log(kind: str, started: float, what: str) -> None:
    took = time.monotonic() - started
    TOTALS[kind] += took
    COUNTS[kind] += 1
    gap = started - _last_end[0]
    _last_end[0] = time.monotonic()
    TOTALS["between steps"] += max(gap, 0.0)
    print(
        f"{started - T0:8.2f} s  +{took:6.2f} s  {kind:<10} {what}  (gap before {gap:.2f} s)", file=sys.stderr
    )


def _timed(kind: str, describe):  # noqa: ANN001, ANN202
    def wrap(fn):  # noqa: ANN001, ANN202
        @functools.wraps(fn)
        def inner(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            started = time.monotonic()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                _log(kind, started, f"{describe(args, kwargs, None)} FAILED {exc}")
                raise
            _log(kind, started, describe(args, kwargs, result))
            return result

        return inner

    return wrap


def _measure_text(args, kwargs, result) -> str:  # noqa: ANN001
    loads, settings = args
    m = result[0] if result else None
    load = loads[0]
    if m is None:
        return load.model
    span = m.end - m.start if m.end else 0.0
    return (
        f"{load.model} c={load.concurrency}: {m.windows} windows, stable={m.stable}, "
        f"tput {m.throughput or 0:.1f}, p99 {m.latency_p99_ms or 0:.0f} ms, last-3-windows span {span:.2f} s"
        + (f", error {m.error}" if m.error else "")
    )


def main() -> None:
    """Wrap the steps, run the CLI, print the totals."""
    triton.TritonControl.load = _timed("load", lambda a, k, r: a[1])(triton.TritonControl.load)
    for name in ("request_unload", "wait_unloaded"):
        setattr(
            triton.TritonControl,
            name,
            _timed(name, lambda a, k, r: a[1])(getattr(triton.TritonControl, name)),
        )
    launcher.LocalServer.start = _timed("start", lambda a, k, r: "tritonserver")(launcher.LocalServer.start)
    launcher.LocalServer.restart = _timed("restart", lambda a, k, r: "tritonserver")(
        launcher.LocalServer.restart
    )
    loadgen.measure_loads = _timed("measure", _measure_text)(loadgen.measure_loads)
    code = 0
    try:
        cli.cli.main(args=sys.argv[1:], prog_name="gpupack", standalone_mode=False)
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        wall = time.monotonic() - T0
        print(f"\nwall {wall:.1f} s", file=sys.stderr)
        for kind in sorted(TOTALS, key=lambda k: -TOTALS[k]):
            print(f"  {kind:<14} {TOTALS[kind]:7.1f} s  ({COUNTS[kind] or '-'} calls)", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
