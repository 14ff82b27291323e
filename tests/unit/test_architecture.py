"""The shape of the code: no import cycles, data flowing one way (profiler → packer → cli).

Imports are read with ast, nothing is executed; TYPE_CHECKING imports count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules() -> dict[str, Path]:
    files = [p for top in ("profiler", "packer") for p in (ROOT / top).rglob("*.py")] + [ROOT / "cli.py"]
    mods = {}
    for path in files:
        if "examples" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, mods) for name, path in mods.items()}


def test_no_module_imports_itself_through_others():
    graph = _graph()
    # Only a package's own __init__ may be imported by its children (it re-exports, it holds no logic
    # they need), so it is left out of the cycle search.
    edges = {
        m: {t for t in ts if not (m.startswith(t + ".") and t in ("profiler", "packer"))}
        for m, ts in graph.items()
    }
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_profiler_never_imports_the_packer_or_the_cli():
    graph = _graph()
    wrong = {
        m: t
        for m, ts in graph.items()
        if m.startswith("profiler")
        for t in ts
        if not t.startswith("profiler")
    }
    assert wrong == {}


def test_packer_uses_only_the_profilers_public_interface():
    graph = _graph()
    inside = {
        (m, t) for m, ts in graph.items() if m.startswith("packer") for t in ts if t.startswith("profiler.")
    }
    assert inside == set()
    assert not any(t == "cli" for m, ts in graph.items() if m != "cli" for t in ts)


def test_the_installed_cli_imports_outside_the_checkout(tmp_path: Path):
    """Every module the CLI needs is inside the installed layout (cli.py, profiler/, packer/)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", "import cli, profiler.base.cli_config, packer.service"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in ROOT.glob("*.py")) == ["cli.py"]


# The profiler's roles, each allowed to import only those before it (and itself).
PROFILER_LAYERS = ("base", "profiles", "server", "measure", "validation")


def test_profiler_roles_import_only_the_layers_below_them():
    graph = _graph()
    wrong = set()
    for module, targets in graph.items():
        parts = module.split(".")
        if parts[0] != "profiler" or len(parts) < 2 or parts[1] not in PROFILER_LAYERS:
            continue
        allowed = set(PROFILER_LAYERS[: PROFILER_LAYERS.index(parts[1]) + 1])
        for target in targets:
            tparts = target.split(".")
            if tparts[0] == "profiler" and len(tparts) > 1 and tparts[1] not in allowed:
                wrong.add((module, target))
            elif target == "profiler":
                wrong.add((module, target))
    assert wrong == set()


# The written plan directory has one owner: only these modules name its files and folders.
PLAN_DIR_OWNERS = ("profiler/base/plan_dir.py", "profiler/base/validation_file.py")
PLAN_DIR_FILES = {"plan.json", "endpoints.csv", "validation.json", "validation.csv"}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions (prose may name the files)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _names_the_plan_directory(tree: ast.AST) -> list[str]:
    """String literals that name a plan directory's file, or build ``gpu<i>``/``launch-gpu<i>`` names."""
    skip = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if node.value in PLAN_DIR_FILES:
                hits.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            for part, after in zip(node.values, node.values[1:], strict=False):
                text = part.value if isinstance(part, ast.Constant) else None
                if isinstance(text, str) and isinstance(after, ast.FormattedValue):
                    if text in ("gpu", "launch-gpu") or text.endswith("/gpu"):
                        hits.append(f"f'{text}{{...}}'")
    return hits


def test_only_the_plan_directory_module_names_its_files_and_folders():
    files = [p for top in ("profiler", "packer") for p in (ROOT / top).rglob("*.py")] + [ROOT / "cli.py"]
    wrong = {}
    for path in files:
        where = path.relative_to(ROOT).as_posix()
        if where in PLAN_DIR_OWNERS or "examples" in path.parts:
            continue
        hits = _names_the_plan_directory(ast.parse(path.read_text(encoding="utf-8")))
        if hits:
            wrong[where] = hits
    assert wrong == {}


def test_the_plan_directory_check_sees_a_literal_and_a_built_folder_name():
    tree = ast.parse(
        '"""Reads plan.json."""\nA = "plan.json"\nB = f"gpu{i}"\nC = f"{root}/gpu{i}"\nD = f"gpu-{i}.png"'
    )
    assert _names_the_plan_directory(tree) == ["plan.json", "f'gpu{...}'", "f'/gpu{...}'"]
