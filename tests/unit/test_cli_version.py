"""`gpupack --version`: gpupack's version and what it finds of OR-Tools, tritonclient and tritonserver."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

import profiler.commands.version as version
from cli import cli
from profiler.base.errors import GpupackError


def test_version_names_gpupack_ortools_tritonclient_and_the_server_it_finds():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"gpupack {metadata.version('gpupack')}"
    assert lines[1] == f"OR-Tools {metadata.version('ortools')}"
    assert lines[2] == f"tritonclient {metadata.version('tritonclient')}"
    assert lines[3].startswith("tritonserver")
    assert len(lines) == 4


def test_version_says_what_is_missing_instead_of_failing(monkeypatch: pytest.MonkeyPatch):
    def missing(distribution: str) -> str:
        raise metadata.PackageNotFoundError(distribution)

    def no_server(explicit: Path | None = None) -> Path:
        raise GpupackError("no tritonserver found (not given, not on PATH, no nvidia-pytriton installed)")

    monkeypatch.setattr(version.metadata, "version", missing)
    monkeypatch.setattr(version, "find_tritonserver", no_server)
    monkeypatch.delenv("TRITONSERVER", raising=False)
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "gpupack not installed",
        "OR-Tools not installed",
        "tritonclient not installed",
        "tritonserver not found (not on PATH, no nvidia-pytriton installed; $TRITONSERVER not set)",
    ]


def test_version_takes_the_servers_version_from_an_ngc_container(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    binary = tmp_path / "tritonserver"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("TRITONSERVER", str(binary))
    monkeypatch.setenv("TRITON_SERVER_VERSION", "2.51.0")
    assert version.version_lines()[-1] == f"tritonserver 2.51.0 ({binary})"
    monkeypatch.delenv("TRITON_SERVER_VERSION")
    assert version.version_lines()[-1] == f"tritonserver, version unknown ({binary})"


def test_version_does_not_fail_on_a_tritonserver_variable_naming_no_binary(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRITONSERVER", "/nonexistent/tritonserver")
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert (
        "tritonserver not found ($TRITONSERVER=/nonexistent/tritonserver is not an executable file)"
        in result.output
    )
