"""The documentation site builds strictly, and its command reference covers every command and option."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import click

from cli import cli

REPO = Path(__file__).resolve().parents[2]


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", REPO / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(group: click.Group, path: str = "gpupack"):
    for name, command in group.commands.items():
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{path} {name}")


def test_command_reference_names_every_command_option_and_environment_variable():
    reference = _hooks().cli_reference()
    for path, command in _commands(cli):
        assert f"## `{path}`" in reference
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert f"`{max(param.opts, key=len)}`" in reference, (path, param.opts)
                if isinstance(param.envvar, str):
                    assert f"`{param.envvar}`" in reference, (path, param.envvar)


def test_every_page_is_in_the_navigation_and_the_site_builds_strictly(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # MkDocs only reports pages left out of the navigation at INFO level: refuse them here.
    assert 'not included in the "nav"' not in done.stderr, done.stderr
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()
    assert (tmp_path / "site" / "schemas" / "plan.schema.json").is_file()


def test_readme_is_a_landing_page_whose_links_resolve():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert (REPO / target).exists(), target
    # The two Quick-start commands, exactly.
    assert (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[server,test]' && .venv/bin/gpupack plan "
        "--objective min-gpus\n" in readme
    )
    assert "\n.venv/bin/python -m pytest -q\n" in readme
