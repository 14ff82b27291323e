"""Open-loop (``--request-rate``) points on `sleepy` (20 ms per request, one instance): profile, validate.

Theory (an M/D/1 queue, service 20 ms, so it saturates at 50 requests/s): at a rate r below 50/s the
model serves every arrival, so its throughput is r, and its latency is the service time plus a wait of
r x 0.02 / (2 (1 - r x 0.02)) x 20 ms (5 ms at 20/s).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from profiler.profiles.profile_io import read_profile, write_profile
from profiler.validation.report import VALIDATION_JSON

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RATE = 20.0
SERVICE_TIME_MS = 20.0
# Long enough windows for ~180 Poisson arrivals over the last 3 (count's spread ~7 %, seeded).
FAST = ("--window", "3", "--warmup", "0.5", "--max-windows", "3")


def test_a_rate_point_delivers_its_rate_when_profiled_and_when_planned_and_validated(
    repository: Path, tmp_path: Path
):
    runner = CliRunner()
    out = tmp_path / "profile"
    profiled = runner.invoke(
        cli,
        ["profile", "--model-repository", str(repository), "--models", "sleepy", "--concurrency", "1",
         "--request-rate", f"{RATE:g}", "--no-reload-per-batch", "-o", str(out), "--json", *FAST],
    )  # fmt: skip
    assert profiled.exit_code == 0, profiled.output
    rows = json.loads(profiled.stdout)["points"]
    point = next(p for p in rows if p["request_rate"] is not None)
    assert point["concurrency"] == 0 and point["request_rate"] == RATE and point["error"] == ""
    assert abs(point["throughput_infer_per_sec"] - RATE) <= 0.1 * RATE, point  # below saturation
    assert SERVICE_TIME_MS <= point["latency_p50_ms"] < 2 * SERVICE_TIME_MS, point
    assert "rate 20 requests/s" in profiled.stderr  # the progress line names the load

    # The rate point alone, so that the planner counts on it (concurrency 1 delivers more).
    profile = read_profile(out)
    rate_only = tmp_path / "rate-only"
    write_profile(
        dataclasses.replace(profile, points=tuple(p for p in profile.points if p.request_rate)), rate_only
    )
    deploy = tmp_path / "deploy"
    planned = runner.invoke(
        cli,
        ["plan", "--profiles", str(rate_only), "--gpu-memory", "1GB", "--choose-points",
         "--model-repository", str(repository), "--write-repositories", str(deploy)],
    )  # fmt: skip
    assert planned.exit_code == 0, planned.output
    chosen = json.loads((deploy / "plan.json").read_text())["gpus"][0]["models"][0]
    assert chosen["request_rate"] == RATE and chosen["concurrency"] == 0

    validated = runner.invoke(cli, ["validate", str(deploy), "--json", *FAST])
    assert validated.exit_code == 0, validated.output
    model = json.loads((deploy / VALIDATION_JSON).read_text())["gpus"][0]["models"][0]
    assert model["request_rate"] == RATE and model["concurrency"] == 0
    assert 0.9 <= model["ratio"] <= 1.1 and abs(model["measured_throughput"] - RATE) <= 0.1 * RATE, model
