"""The console examples of the documentation, found, run and compared with what the pages show.

A page's example is a fenced ``console`` block: lines starting with ``$ `` are commands, the lines up
to the next command are what it prints (stdout and stderr together, in order), and a last line
``(exit N)`` is its exit status (0 when absent). Each block runs in a fresh directory holding links to
the repository's ``examples/``, ``tests/`` and ``profiler/`` folders, plus every file the page shows in
a block titled with its name (```` ```yaml title="plan.yaml" ````), commands one after another through
bash with the ``gpupack`` of the running Python on PATH.

Compared after normalising what changes from run to run: solve times ("solved in 0.08 s"), durations,
temporary paths and trailing spaces. A line ``...`` on the page stands for any number of lines.

A block preceded by ``<!-- not-run: REASON -->`` is not executed; ``NOT_RUN`` below lists every such
block's reason, so the list stays short and visible. Run this file with ``--update`` to rewrite the
executed blocks of the pages with what the commands print now (blocks with ``...`` are left alone and
listed).
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PAGES = [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]
LINKED = ("examples", "tests", "profiler", "benchmarks")
COMMAND_TIMEOUT_S = 120
# Every console example not run, by page, with the reason its page gives (the test checks both agree).
NOT_RUN = {
    ("docs/how-to/deploy.md", "needs a model that fails to load on a real server: tests/integration runs it"),
    (
        "docs/how-to/plan.md",
        "progress lines come every 5 s: how many, and what they say, depend on the machine's speed",
    ),
    (
        "docs/how-to/plan.md",
        "shows a 100-column terminal; the tests print to a pipe, in full width",
    ),
    ("docs/how-to/targets.md", "stopped by its time limit, so the plan found depends on the machine's speed"),
    ("docs/how-to/validate.md", "measures real servers: tests/integration/test_validate.py runs this plan"),
    (
        "docs/tutorial.md",
        "measured on this machine, numbers vary run to run; tests/docs/test_tutorial.py runs it end to end",
    ),
}

_FENCE = re.compile(r"^```(\w*)(.*)$")
_TITLE = re.compile(r'title="([^"]+)"')
_NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(.+?)\s*-->$")
_EXIT = re.compile(r"^\(exit (\d+)\)$")
# A command that runs gpupack: first in its pipeline, after any VAR=value assignments.
_CALLS_GPUPACK = re.compile(r'(^|[;&|]\s*)(\w+=("[^"]*"|\S+)\s+)*gpupack( |$)')
_NORMALISE = [
    (re.compile(r"solved in \d+(\.\d+)? s"), "solved in X s"),
    (re.compile(r"\b\d+(\.\d+)? s\b(?=[:;,)]|$)"), "X s"),
    (re.compile(r"elapsed \d+:\d\d, ETA \d+:\d\d"), "elapsed X, ETA X"),
    (re.compile(r"/tmp/[\w./-]+"), "/tmp/X"),
]


@dataclass(frozen=True)
class Step:
    """One ``$`` command of a block and what the page says it prints."""

    command: str
    expected: tuple[str, ...]
    exit_code: int


@dataclass(frozen=True)
class Example:
    """One console block: where it is, its steps, the files it needs, or why it is not run."""

    page: Path
    line: int
    steps: tuple[Step, ...]
    files: tuple[tuple[str, str], ...]
    not_run: str

    @property
    def name(self) -> str:
        """``docs/tutorial.md:42``, the block's first line."""
        return f"{self.page.relative_to(REPO)}:{self.line}"


def _blocks(text: str) -> list[tuple[int, str, str, list[str], str]]:
    """Every fenced block: (first line number, language, info, lines, the comment before it)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        match = _FENCE.match(lines[i].strip())
        if not match or not match.group(1):
            i += 1
            continue
        previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        indent = len(lines[i]) - len(lines[i].lstrip())
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        body = [line[indent:] for line in lines[i + 1 : end]]
        blocks.append((i + 2, match.group(1), match.group(2), body, previous))
        i = end + 1
    return blocks


def _steps(lines: list[str]) -> tuple[Step, ...]:
    steps: list[Step] = []
    command, output = None, []
    for line in [*lines, "$ "]:
        if line.startswith("$ ") or line == "$":
            if command is not None:
                while output and not output[-1].strip():
                    output.pop()
                code = 0
                if output and _EXIT.match(output[-1].strip()):
                    code = int(_EXIT.match(output.pop().strip()).group(1))
                steps.append(Step(command, tuple(output), code))
            command, output = line[2:].strip(), []
        else:
            output.append(line)
    return tuple(s for s in steps if s.command)


def examples(pages: list[Path] = PAGES) -> list[Example]:
    """The console examples of ``pages`` whose commands call gpupack."""
    found = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        files: list[tuple[str, str]] = []
        for line, language, info, body, previous in _blocks(text):
            title = _TITLE.search(info)
            if title:
                files.append((title.group(1), "\n".join(body) + "\n"))
            if language != "console":
                continue
            steps = _steps(body)
            if not any(_CALLS_GPUPACK.search(s.command) for s in steps):
                continue
            reason = _NOT_RUN.match(previous)
            found.append(Example(page, line, steps, tuple(files), reason.group(1) if reason else ""))
    return found


def normalise(lines: list[str] | tuple[str, ...]) -> list[str]:
    """Lines with timings, temporary paths and trailing spaces made comparable."""
    out = []
    for line in lines:
        for pattern, replacement in _NORMALISE:
            line = pattern.sub(replacement, line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``expected``, where an expected line ``...`` stands for any lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


def _workdir(example: Example, root: Path) -> None:
    for name in LINKED:
        (root / name).symlink_to(REPO / name)
    (root / "docs" / "reports").mkdir(parents=True)
    for name, content in example.files:
        (root / name).write_text(content, encoding="utf-8")


def run(example: Example) -> list[tuple[Step, list[str], int]]:
    """Run every step of ``example`` in a fresh directory: (step, output lines, exit code) each."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for name in [key for key in env if key.startswith("GPUPACK_") or key == "COLUMNS"]:
        del env[name]
    results = []
    with tempfile.TemporaryDirectory(prefix="gpupack-docs-") as tmp:
        _workdir(example, Path(tmp))
        for step in example.steps:
            done = subprocess.run(
                ["bash", "-c", f"set -o pipefail; {step.command}"],
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
            output = done.stdout.replace(tmp + "/", "").replace(tmp, ".")
            results.append((step, output.splitlines(), done.returncode))
    return results


def differences(example: Example) -> str:
    """What differs between the page and a run of ``example``: empty when they agree."""
    report = []
    for step, output, code in run(example):
        expected, actual = normalise(step.expected), normalise(output)
        if code != step.exit_code:
            said = f"exit {code}, the page says {step.exit_code}"
            report.append(f"$ {step.command}\n{said}\n" + "\n".join(output))
        elif not matches(expected, actual):
            diff = difflib.unified_diff(expected, actual, "page", "now", lineterm="")
            report.append(f"$ {step.command}\n" + "\n".join(diff))
    return "\n\n".join(report)


def update(example: Example) -> bool:
    """Rewrite ``example``'s block on its page with what its commands print now; False if left alone."""
    if any("..." in step.expected for step in example.steps) or example.not_run:
        return False
    lines = example.page.read_text(encoding="utf-8").split("\n")
    start = example.line - 1
    end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
    indent = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
    body = []
    for step, output, code in run(example):
        if body:
            body.append("")
        body += [f"$ {step.command}", *(line.rstrip() for line in output)]
        if code:
            body.append(f"(exit {code})")
    lines[start:end] = [indent + line if line else line for line in body]
    example.page.write_text("\n".join(lines), encoding="utf-8")
    return True


if __name__ == "__main__":
    for example in reversed(examples()):  # from the end, so earlier line numbers stay right
        if "--update" in sys.argv:
            print(("updated " if update(example) else "left alone ") + example.name)
        elif not example.not_run:
            print(example.name, "ok" if not differences(example) else "DIFFERS")
