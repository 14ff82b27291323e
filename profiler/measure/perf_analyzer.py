"""perf_analyzer as the load generator (``--load-generator perf_analyzer``), to compare with ours.

It runs once per point in concurrency mode (a rate point: request-rate mode, Poisson arrivals) over
gRPC with our window, stability and max windows, and its CSV report gives throughput and the latency
percentiles. Its stability rule is stricter than ours (average latency as well as throughput). When
it finds no stable measurement it reports no numbers at all, so the point is measured again with the
check off (3 windows, ±1000 %) and recorded as unstable. Resource maxima are taken over its last 3 windows.

The binary (tritonclient's wheel up to 2.51; the GPU bundle's ``client-site/bin``) needs
``libb64.so.0d`` and ``libcudart.so.12``; where nvidia-pytriton is installed, its copies are linked
into a private folder put on perf_analyzer's LD_LIBRARY_PATH.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import importlib.util
import io
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from profiler.base.errors import InputError
from profiler.base.files import cannot_write, ensure_directory, temp_dir
from profiler.measure.inputs import InputSpec
from profiler.measure.loadgen import Measurement, MeasureSettings
from profiler.measure.stats import STABLE_WINDOWS

UNSTABLE_MARK = "Failed to obtain stable measurement"
# Stability off: every window is within ±1000 % of the mean, so the first 3 windows "agree".
_NO_STABILITY_PCT = 1000
_US_PER_MS = 1000.0
# perf_analyzer's own start-up and the report, beyond the windows themselves.
_OVERHEAD_S = 60.0
_NO_RESULT = "no result after"
_LIBRARIES = {"libb64.so.0d": "libb64-*.so.0d", "libcudart.so.12": "libcudart-*.so.12*"}


def find_perf_analyzer(explicit: Path | None = None) -> Path:
    """``explicit``, else ``perf_analyzer`` on PATH.

    Raises:
        InputError: not found, or not executable.

    """
    if explicit is not None:
        if not (explicit.is_file() and os.access(explicit, os.X_OK)):
            raise InputError(f"--perf-analyzer {explicit}: not an executable file")
        return explicit
    found = shutil.which("perf_analyzer")
    if not found:
        raise InputError(
            "--load-generator perf_analyzer: no perf_analyzer on PATH",
            "pass --perf-analyzer PATH (tritonclient<=2.51 wheels ship it in bin/), or use the built-in one",
        )
    return Path(found)


def library_folder(workdir: Path, library_dirs: Sequence[Path]) -> Path | None:
    """A folder of the plain names perf_analyzer asks for, linked to nvidia-pytriton's hashed copies."""
    links = {}
    for name, pattern in _LIBRARIES.items():
        for directory in library_dirs:
            matches = sorted(glob.glob(str(directory / pattern)))
            if matches:
                links[name] = Path(matches[0])
                break
    if not links:
        return None
    folder = ensure_directory(workdir / "lib")
    try:
        for name, target in links.items():
            (folder / name).unlink(missing_ok=True)
            (folder / name).symlink_to(target)
    except OSError as exc:
        raise cannot_write(folder, exc) from None
    return folder


def pytriton_library_dirs(server_libraries: Path | None = None) -> list[Path]:
    """Folders that may hold libb64/libcudart for perf_analyzer: the server's, then nvidia-pytriton's."""
    dirs = [server_libraries] if server_libraries else []
    spec = importlib.util.find_spec("pytriton")
    if spec and spec.submodule_search_locations:
        dirs.append(Path(next(iter(spec.submodule_search_locations))).parent / "nvidia_pytriton.libs")
    return dirs


def parse_report(text: str) -> dict[str, float]:
    """The first data row of perf_analyzer's ``-f`` CSV: header -> value."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise ValueError("perf_analyzer wrote an empty report")
    return {key.strip(): float(value) for key, value in rows[0].items() if key and value not in (None, "")}


def _version(binary: Path, env: dict[str, str]) -> str:
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, env=env, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown version"
    words = (done.stdout + done.stderr).split()  # 2.51 prints its version on stderr
    return words[words.index("Version") + 1] if "Version" in words else "unknown version"


class PerfAnalyzerEngine:
    """Measures points with the perf_analyzer binary against the gRPC endpoint ``url``."""

    def __init__(self, binary: Path, url: str, library_dirs: Sequence[Path] = ()) -> None:
        self.binary = binary
        self.url = url
        self._workdir = temp_dir("pa")
        self._env = dict(os.environ)
        libs = library_folder(self._workdir, library_dirs)
        if libs is not None:
            self._env["LD_LIBRARY_PATH"] = os.pathsep.join(
                p for p in (str(libs), self._env.get("LD_LIBRARY_PATH", "")) if p
            )
        self.description = f"perf_analyzer {_version(binary, self._env)} (gRPC, concurrency mode)"

    def close(self) -> None:
        """Remove the temporary folder."""
        shutil.rmtree(self._workdir, ignore_errors=True)

    def measure(
        self,
        model: str,
        specs: Sequence[InputSpec],
        concurrency: int,
        settings: MeasureSettings,
        request_rate: float | None = None,
    ) -> Measurement:
        """Measure one point; if perf_analyzer finds no stable measurement, again with the check off.

        ``request_rate``: open loop instead, Poisson arrivals per second (``concurrency`` then 0).
        """
        load = (
            [f"--concurrency-range={concurrency}:{concurrency}"]
            if request_rate is None
            else [f"--request-rate-range={request_rate:g}:{request_rate:g}", "--request-distribution=poisson"]
        )
        result = self._run(model, specs, load, settings, settings.stability_pct, settings.max_windows)
        if isinstance(result, Measurement):
            return result
        if UNSTABLE_MARK in result:
            again = self._run(model, specs, load, settings, _NO_STABILITY_PCT, STABLE_WINDOWS)
            if isinstance(again, Measurement):
                return dataclasses.replace(again, stable=False, windows=settings.max_windows)
            result = again
        return Measurement(
            error=f"perf_analyzer failed: {_last_line(result)}", timed_out=result.startswith(_NO_RESULT)
        )

    def _run(
        self,
        model: str,
        specs: Sequence[InputSpec],
        load: Sequence[str],
        settings: MeasureSettings,
        stability_pct: float,
        max_windows: int,
    ) -> Measurement | str:
        """One perf_analyzer run: a Measurement, or its output when it failed."""
        report = self._workdir / f"{model}.csv"
        report.unlink(missing_ok=True)
        batch_size = max([spec.batch_size for spec in specs] + [1])
        window_ms = max(1, round(settings.window_s * 1000))
        command = [
            str(self.binary),
            *("-m", model, "-u", self.url, "-i", "grpc", "-b", str(batch_size), "-f", str(report)),
            *load,
            f"--measurement-interval={window_ms}",
            f"--stability-percentage={stability_pct:g}",
            f"--max-trials={max_windows}",
            *(f"--shape={spec.name}:{','.join(map(str, spec.dims))}" for spec in specs if spec.dims),
        ]
        limit = (
            settings.warmup_s + max_windows * (settings.window_s + settings.request_timeout_s) + _OVERHEAD_S
        )
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=self._env, timeout=limit)
        except subprocess.TimeoutExpired:
            return f"{_NO_RESULT} {limit:.0f} s"
        end = time.monotonic()
        if done.returncode != 0 or not report.exists():
            return done.stdout + done.stderr
        try:
            row = parse_report(report.read_text())
            return Measurement(
                throughput=row["Inferences/Second"],
                latency_p50_ms=row["p50 latency"] / _US_PER_MS,
                latency_p90_ms=row["p90 latency"] / _US_PER_MS,
                latency_p95_ms=row["p95 latency"] / _US_PER_MS,
                latency_p99_ms=row["p99 latency"] / _US_PER_MS,
                stable=True,
                start=end - STABLE_WINDOWS * settings.window_s,
                end=end,
            )
        except (KeyError, ValueError) as exc:
            return f"unexpected report {report.name}: {exc}"


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    return (errors or lines or ["no output"])[-1]
