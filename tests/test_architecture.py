"""The architecture of ARCHITECTURE.md, checked: layers only import downwards, and the top of
`harness/` holds only the package's entry points.

import-linter's contract ([tool.importlinter] in pyproject.toml) sees function-local imports too,
so an upward import hidden inside a function fails here as well as one at module top.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {"__init__.py", "cli.py", "plugin.py"}


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())", "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_every_layer_imports_only_the_layers_below_it():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_the_layer_contract_fails_an_upward_import(tmp_path):
    """The contract can fail: a copy of the package where the core imports the CLI layer breaks it."""
    copy = tmp_path / "repo"
    (copy / "harness").mkdir(parents=True)
    subprocess.run(["cp", "-r", str(ROOT / "harness"), str(copy)], check=True, timeout=60)
    (copy / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text("utf-8"), "utf-8")
    with (copy / "harness" / "core" / "errors.py").open("a", encoding="utf-8") as fh:
        fh.write("\n\ndef _upward() -> None:\n    from harness.commands import run  # noqa: F401\n")
    result = _lint_imports(copy)
    assert result.returncode != 0
    assert "harness.core is not allowed to import harness.commands" in result.stdout


RUFF_ARGS = ["check", "--output-format", "concise", "."]


def test_ruff_is_clean():
    """[tool.ruff] in pyproject.toml: pyflakes, pycodestyle (120 columns) and import order (isort)."""
    result = subprocess.run([sys.executable, "-m", "ruff", *RUFF_ARGS], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.mark.slow
def test_mypy_is_clean():
    """[tool.mypy] in pyproject.toml: the harness package type-checks (check_untyped_defs)."""
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_the_top_of_the_package_holds_only_entry_points():
    loose = {p.name for p in (ROOT / "harness").glob("*.py")} - ENTRY_POINTS
    assert loose == set(), f"modules at the top of harness/ belong in a layer (ARCHITECTURE.md): {sorted(loose)}"


@pytest.mark.parametrize("package", sorted(p.parent.name for p in (ROOT / "harness").glob("*/__init__.py")))
def test_every_package_says_what_it_holds(package):
    text = (ROOT / "harness" / package / "__init__.py").read_text("utf-8").strip()
    assert text.startswith('"""'), f"harness/{package}/__init__.py needs a docstring saying its one job"
    assert package in (ROOT / "ARCHITECTURE.md").read_text("utf-8"), f"ARCHITECTURE.md does not describe {package}"


def _cross_imports() -> dict[str, set[tuple[str, str]]]:
    """package -> {(module, name)} that modules of *other* packages import from it."""
    used: dict[str, set[tuple[str, str]]] = {}
    for path in (ROOT / "harness").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        own = ".".join(parts[:2])
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness."):
                target = ".".join(node.module.split(".")[:2])
                if target != own and target != "harness.commands":
                    used.setdefault(target, set()).update((node.module, a.name) for a in node.names)
    return used


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


PACKAGES = sorted(f"harness.{p.parent.name}" for p in (ROOT / "harness").glob("*/__init__.py")
                  if p.parent.name != "commands")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_has_a_public_face_that_imports(package):
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names, f"{package} has no __all__"
    assert [n for n in names if not hasattr(module, n)] == []


def test_what_other_layers_import_is_in_the_public_face():
    """Like httpx's guard of its own `__all__`: a name another layer reaches for is public, named in
    its package's `__all__`, and never private (`_name`)."""
    missing, private = [], []
    for package, imported in sorted(_cross_imports().items()):
        public = set(getattr(importlib.import_module(package), "__all__", ()))
        for module, name in sorted(imported):
            if _is_module(f"{module}.{name}") or _is_module(f"{package}.{name}"):
                continue  # a module (`from harness.run import dipaccess`), or a name that would shadow one
            if name.startswith("_"):
                private.append(f"{module}.{name}")
            elif name not in public:
                missing.append(f"{module}.{name}")
    assert private == [], f"private names used across packages: {private}"
    assert missing == [], f"add to the package's __all__ : {missing}"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_public_name_shadows_a_module_of_its_package(package):
    """`from harness.dip import registrations` must give the module, never a function re-exported under
    the module's name (it did once: dip.provision.registrations hid dip.registrations)."""
    folder = ROOT.joinpath(*package.split("."))
    names = set(getattr(importlib.import_module(package), "__all__", ()))
    modules = {p.stem for p in folder.glob("*.py")} | {p.parent.name for p in folder.glob("*/__init__.py")}
    assert sorted(names & modules) == []


def _cycles() -> list[list[str]]:
    """Strongly connected groups of harness modules (function-local imports included), read from this
    checkout (a subprocess with the repository first on sys.path, whatever `harness` is installed)."""
    code = ("import json, grimp; g = grimp.build_graph('harness'); "
            "print(json.dumps({m: sorted(g.find_modules_directly_imported_by(m)) for m in g.modules}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    graph = json.loads(result.stdout)
    edges = {m: set(imported) for m, imported in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return groups


def test_no_module_imports_itself_round_a_cycle():
    """Layers forbid cycles between packages; this forbids them inside one (messages.official <->
    schemapack, run.demo <-> session and the judges' registry were the last three)."""
    assert _cycles() == []
