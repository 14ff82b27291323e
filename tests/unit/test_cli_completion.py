"""Shell completion (click's): gpupack prints each shell's script, and bash completes with it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli


def _complete(env: dict[str, str]) -> str:
    result = CliRunner().invoke(cli, [], prog_name="gpupack", env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(
    ("shell", "registers"),
    [
        ("bash", "complete -o nosort -F _gpupack_completion gpupack"),
        ("zsh", "compdef _gpupack_completion gpupack"),
        ("fish", "complete --no-files --command gpupack"),
    ],
)
def test_gpupack_prints_the_completion_script_of_each_shell(shell: str, registers: str):
    assert registers in _complete({"_GPUPACK_COMPLETE": f"{shell}_source"})


def test_completion_offers_commands_options_and_choices():
    def words(line: str) -> list[str]:
        cword = str(len(line.split()) - (0 if line.endswith(" ") else 1))
        env = {"_GPUPACK_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": cword}
        return _complete(env).split()

    assert words("gpupack rep") == ["plain,report"]
    assert "plain,--validation" in words("gpupack report --")
    assert words("gpupack plan --objective ") == ["plain,min-gpus", "plain,throughput"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this host")
def test_the_bash_script_completes_a_command_in_bash():
    gpupack = Path(sys.executable).parent / "gpupack"
    if not gpupack.exists():
        pytest.skip("gpupack is not installed beside this Python")
    script = (
        'eval "$(_GPUPACK_COMPLETE=bash_source gpupack)"; '
        "COMP_WORDS=(gpupack rep); COMP_CWORD=1; _gpupack_completion gpupack; "
        'echo "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": f"{gpupack.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["report"]
