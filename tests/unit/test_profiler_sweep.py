"""The sweep's recovery rules, with stand-ins for the server, the load generator and the sampler.

A hung model, a dead stub, a dead server and an unload that never ends each cost the model its
remaining points (recorded with the reason) and a server restart; the next model is measured. A
profile that can't be written stops the sweep with every measured point still in the outcome.
The same situations against a real tritonserver are in tests/integration/test_profile_faults.py.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2

from profiler.base.errors import EXIT_RUNTIME, GpupackError, OutputError
from profiler.base.signals import Interrupted
from profiler.measure import sweep as sweep_module
from profiler.measure.loadgen import Measurement
from profiler.measure.sampler import ResourceUse
from profiler.measure.sweep import Sweep, SweepSpec
from profiler.profiles.profile_io import read_profile
from profiler.profiles.schema import ProfileMetadata

OK = Measurement(
    throughput=10.0, latency_p50_ms=1, latency_p90_ms=1, latency_p95_ms=1, latency_p99_ms=1, stable=True
)
HUNG = Measurement(error="inference failed: Deadline Exceeded", timed_out=True)
STUB_DIED = Measurement(error="inference failed: Stub process 'crashy_0_0' is not healthy.")
KILLED = "tritonserver exited unexpectedly (killed by signal 9 (SIGKILL); see out/tritonserver.log)"


class Control:
    def __init__(self, stuck: set[str] = frozenset()) -> None:
        self.stuck = stuck
        self.calls: list[tuple[str, str]] = []

    def load(self, model: str) -> None:
        self.calls.append(("load", model))

    def unload(self, model: str, timeout_s: float = 120) -> None:
        self.calls.append(("unload", model))
        if model in self.stuck:
            raise GpupackError(f"{model}: still loaded {timeout_s:.0f} s after the unload request")

    def model_config(self, model: str) -> model_config_pb2.ModelConfig:
        config = model_config_pb2.ModelConfig(name=model, max_batch_size=8)
        config.input.add(name="INPUT0", data_type=model_config_pb2.TYPE_FP32, dims=[16])
        return config


class Server:
    owned = True

    def __init__(self, control: Control) -> None:
        self.control = control
        self.dead: str | None = None
        self.recoveries: list[str] = []

    def failure(self, after_error: bool = False) -> str | None:
        return self.dead

    def recover(self, reason: str) -> None:
        self.recoveries.append(reason)
        self.dead = None


class Engine:
    description = "stand-in"

    def __init__(self, server: Server, script: dict[str, list[Measurement | str]]) -> None:
        self.server = server
        self.script = script
        self.measured: list[tuple[str, int]] = []

    def measure(self, model, specs, concurrency, settings, request_rate=None) -> Measurement:
        self.measured.append((model, concurrency))
        steps = self.script.get(model, [])
        step = steps.pop(0) if steps else OK
        if isinstance(step, str):  # the server dies during this point
            self.server.dead = step
            return Measurement(error="inference failed: failed to connect to all addresses")
        return step


class Sampler:
    has_sources = False

    def now(self) -> float:
        return 0.0

    def use(self, start: float, end: float, memory_start: float | None = None) -> ResourceUse:
        return ResourceUse()


class Reporter:
    def __init__(self) -> None:
        self.notices: list[str] = []

    def progress(self, event) -> None:
        pass

    def notice(self, message: str) -> None:
        self.notices.append(message)


def sweep(tmp_path: Path, script: dict, stuck: set[str] = frozenset()) -> tuple:
    server = Server(Control(stuck))
    engine = Engine(server, script)
    reporter = Reporter()
    spec = SweepSpec(("first", "second"), (1,), (1, 2, 4))
    outcome = Sweep(server, engine, Sampler(), tmp_path / "out", reporter).run(spec, ProfileMetadata())
    return outcome, server, engine, reporter


def errors(outcome, model: str) -> list[str]:
    return [p.error for p in outcome.profile.points if p.model == model]


@pytest.mark.parametrize(
    ("failure", "words"),
    [(HUNG, "first hung at batch 1, concurrency 1"), (STUB_DIED, "first's stub process died")],
)
def test_a_hung_or_crashed_model_loses_its_remaining_points_and_the_sweep_goes_on(tmp_path, failure, words):
    outcome, server, engine, reporter = sweep(tmp_path, {"first": [failure]})
    assert errors(outcome, "first")[0] == failure.error
    assert all(e.startswith(f"not measured: {words}") for e in errors(outcome, "first")[1:])
    assert len(errors(outcome, "first")) == 3
    assert errors(outcome, "second") == ["", "", ""]  # measured after the restart
    assert (
        len(server.recoveries) == 1 and words in reporter.notices[0] and "restarting" in reporter.notices[0]
    )
    assert ("unload", "first") not in server.control.calls  # it would wait for the stuck requests
    assert engine.measured == [("first", 1), ("second", 1), ("second", 2), ("second", 4)]
    assert (outcome.measured, outcome.failed) == (3, 3)
    assert read_profile(tmp_path / "out").points == outcome.profile.points


def test_a_server_that_dies_mid_point_is_named_as_the_reason_and_restarted(tmp_path):
    outcome, server, engine, _ = sweep(tmp_path, {"first": [OK, KILLED]})
    assert errors(outcome, "first") == ["", KILLED, f"not measured: {KILLED}"]
    assert server.recoveries == [KILLED]
    assert errors(outcome, "second") == ["", "", ""]


def test_a_server_that_died_between_models_is_restarted_before_the_next_load(tmp_path):
    server = Server(Control())
    server.dead = KILLED
    spec = SweepSpec(("first",), (1,), (1,))
    outcome = Sweep(server, Engine(server, {}), Sampler(), tmp_path / "out", Reporter()).run(
        spec, ProfileMetadata()
    )
    assert server.recoveries == [KILLED] and errors(outcome, "first") == [""]


def test_a_model_that_will_not_unload_gets_the_server_restarted(tmp_path):
    outcome, server, _, _ = sweep(tmp_path, {}, stuck={"first"})
    assert errors(outcome, "first") == ["", "", ""]  # its points were measured: kept
    assert server.recoveries == ["first: still loaded 120 s after the unload request"]
    assert errors(outcome, "second") == ["", "", ""]


def test_an_interrupt_records_its_signal_and_skips_the_unload_of_our_own_server(tmp_path):
    class Stop(Engine):
        def measure(self, model, specs, concurrency, settings, request_rate=None):
            if concurrency == 2:
                raise Interrupted(15)
            return OK

    server = Server(Control())
    spec = SweepSpec(("first", "second"), (1,), (1, 2))
    outcome = Sweep(server, Stop(server, {}), Sampler(), tmp_path / "out", Reporter()).run(
        spec, ProfileMetadata()
    )
    assert outcome.interrupted and outcome.stop_signal == 15
    assert errors(outcome, "first") == [""]
    assert ("unload", "first") not in server.control.calls


def test_a_profile_that_cannot_be_written_stops_the_sweep_with_every_point_in_the_outcome(
    tmp_path, monkeypatch
):
    real = sweep_module.write_profile
    writes = []

    def full_disk(profile, directory):
        writes.append(len(profile.points))
        if len(writes) > 1:
            raise OutputError(
                f"cannot write {directory}/profile.csv ({os.strerror(errno.ENOSPC)})", exit_code=EXIT_RUNTIME
            )
        real(profile, directory)

    monkeypatch.setattr(sweep_module, "write_profile", full_disk)
    outcome, server, engine, _ = sweep(tmp_path, {})
    assert outcome.write_error is not None and "No space left on device" in outcome.write_error.message
    assert len(outcome.profile.points) == 2 and outcome.unsaved == 1  # measured, in the outcome, not on disk
    assert len(read_profile(tmp_path / "out").points) == 1  # the file written before is intact
    assert engine.measured == [("first", 1), ("first", 2)]  # stopped at once
    assert ("unload", "first") in server.control.calls
