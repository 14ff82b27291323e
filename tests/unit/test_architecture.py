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


# ---- the CLI: cli.py and the command modules ------------------------------------------------------
#
# The CLI is cli.py and every module of a `commands` package (profiler.commands, packer.commands). What
# is checked, on the ast of every import statement of those modules (top level, in functions, and
# under TYPE_CHECKING alike):
#  1. an import of a module of the tree names a CLI module, the profiler's public interface
#     (`profiler`) or its shared base (`profiler.base.*`); or it is `from M import N` with N one of
#     M's entry points listed in CLI_ENTRY_POINTS: a service function, its request and result types,
#     the renderers of its result, and the value types an option is parsed into. So the CLI never
#     reaches an engine (packer.binpacking, packer.choice, packer.cpsat, packer.planner, the problem
#     model) nor the measurement internals (the sweep, sampler, load generators, statistics);
#  2. no module outside the CLI imports a CLI module (commands are leaves);
#  3. importing cli loads neither OR-Tools nor tritonclient (the GPU host has no OR-Tools; plan does
#     not wait for tritonclient): every command imports its service when it runs.

CLI_ENTRY_POINTS = {
    "packer.deploy.export": {"ExportRequest", "export"},
    "packer.report": {"plan_table"},
    "packer.reports": {"WrittenReport"},
    "packer.rules": {"Rules"},
    "packer.service": {"PlanRequest", "PlanResult", "ReportRequest", "run_plan", "run_report"},
    "packer.settings": {"Objective", "SearchProgress", "Selection", "SolverSettings", "Thresholds"},
    "packer.units": {"MEMORY_FORMS", "parse_memory_mb"},
    "profiler.measure.inputs": {"parse_shape"},
    "profiler.measure.loadgen": {"MeasureSettings"},
    "profiler.measure.report": {"profile_json", "profile_report", "progress_line"},
    "profiler.measure.request": {"ProfileRequest", "ProfileResult"},
    "profiler.measure.run": {"run_profile"},
    "profiler.measure.streaming.driver": {"StreamSettings"},
    "profiler.measure.streaming.request": {"StreamingProfileRequest", "decoupled_models"},
    "profiler.measure.streaming.run": {"run_streaming_profile"},
    "profiler.measure.streaming.tokens": {"TokenLength"},
    "profiler.measure.search_run": {"SearchRequest", "SearchResult", "run_config_search"},
    "profiler.measure.latency_bounds": {"read_latency_bounds"},
    "profiler.measure.variants": {"VariantSpace"},
    "profiler.measure.shards": {"Shard", "merge", "profile_in_parallel", "repository_models"},
    "profiler.profiles.profile_io": {"read_profile", "write_profile"},
    "profiler.server.install": {"find_tritonserver"},
    "profiler.server.launcher": {"ServerPorts"},
    "profiler.server.serving": {"ServeRequest", "Serving", "serve"},
    "profiler.validation.records": {"ValidateRequest"},
    "profiler.validation.report": {
        "VALIDATION_JSON",
        "progress_line",
        "validation_json",
        "validation_report",
    },
    "profiler.validation.run": {"run_validation"},
}


def _is_cli(module: str) -> bool:
    return module == "cli" or module.split(".")[1:2] == ["commands"]


def _cli_reach(module: str) -> bool:
    """A module the CLI may import whole: another CLI module, the profiler's interface or its base."""
    return _is_cli(module) or module in ("profiler", "profiler.base") or module.startswith("profiler.base.")


def test_the_cli_imports_services_and_requests_never_engines():
    mods = _modules()
    cli_modules = sorted(m for m in mods if _is_cli(m))
    assert {"cli", "packer.commands.plan", "profiler.commands.profile"} <= set(cli_modules)
    wrong = []
    for name in cli_modules:
        for node in ast.walk(ast.parse(mods[name].read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                whole = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level:
                whole = [f"relative import from {node.module}"]
            elif isinstance(node, ast.ImportFrom) and node.module in mods and not _cli_reach(node.module):
                allowed = CLI_ENTRY_POINTS.get(node.module, set())
                wrong += [(name, f"{node.module}.{a.name}") for a in node.names if a.name not in allowed]
                continue
            else:
                continue
            inside = [
                t for t in whole if t.split(".")[0] in ("profiler", "packer") or t.startswith("relative")
            ]
            wrong += [(name, t) for t in inside if not _cli_reach(t)]
    assert wrong == []


def test_nothing_but_the_cli_imports_a_command_module():
    graph = _graph()
    wrong = {(m, t) for m, ts in graph.items() if not _is_cli(m) for t in ts if _is_cli(t)}
    assert wrong == set()


def test_importing_the_cli_loads_neither_ortools_nor_tritonclient():
    import subprocess
    import sys

    check = (
        "import sys, cli; print(sorted({m.split('.')[0] for m in sys.modules} & {'ortools', 'tritonclient'}))"
    )
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_test_files_have_unique_names_across_folders():
    """The test folders are not packages: two test files of one name stop the whole run at collection."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
