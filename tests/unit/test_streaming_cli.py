"""`gpupack profile` routes decoupled models to the streaming profiler; bad combinations are one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "profiler" / "examples"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    repo = tmp_path / "models"
    for name in ("llm_sleeper", "sleepy"):
        shutil.copytree(EXAMPLES / name, repo / name)
    unknown = repo / "llm_unknown"
    shutil.copytree(EXAMPLES / "llm_sleeper", unknown)
    config = unknown / "config.pbtxt"
    config.write_text(config.read_text().replace('name: "text_input"', 'name: "prompt"'))
    return repo


def _profile(repo: Path, *args: str):
    return CliRunner().invoke(
        cli, ["profile", "--model-repository", str(repo), "-o", str(repo.parent / "p"), *args]
    )


def _one_line_error(result, code: int, match: str) -> None:
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and match in lines[0], result.output
    assert "Traceback" not in result.output


def test_streaming_profile_refuses_a_mix_of_decoupled_and_classic_models(models: Path):
    result = _profile(models, "--models", "llm_sleeper,sleepy")
    _one_line_error(result, 2, "profiled apart from the others (sleepy)")


def test_streaming_options_without_a_decoupled_model_are_refused(models: Path):
    _one_line_error(_profile(models, "--models", "sleepy", "--input-tokens", "8"), 2, "--input-tokens")


def test_output_length_zero_is_refused_before_any_server(models: Path):
    result = _profile(models, "--models", "llm_sleeper", "--output-tokens", "0")
    _one_line_error(result, 2, "at least 1 token")
    assert not (models.parent / "p").exists()


def test_decoupled_model_with_unknown_inputs_is_refused_before_any_server(models: Path):
    result = _profile(models, "--models", "llm_unknown")
    _one_line_error(result, 2, "match neither the vLLM")
    assert not (models.parent / "p").exists()


def test_streaming_profile_refuses_remote_only_options(models: Path):
    _one_line_error(_profile(models, "--models", "llm_sleeper", "--resume"), 2, "--resume")
