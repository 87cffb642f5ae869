"""The layout's rules, checked on the source: data flows one way (ingestion writes, the core reads,
the API and the CLI are thin faces), typer and rich live only in `cli/`, no module imports itself back
through others, no private name crosses a module, and the packages' public names change only on purpose."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACES = {"typer", "rich", "fastapi", "uvicorn", "starlette"}
# package -> top-level modules it must never import
FORBIDDEN: dict[str, set[str]] = {
    "graphrag": {"ingestion", "api", "schema", "cli"} | FACES,
    "schema": {"ingestion", "api", "cli"} | FACES,
    "ingestion": {"api", "cli", "typer", "rich"},
    "api": {"cli", "typer", "rich"},
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (top-level name), with its line, wherever the import stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(package: str) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {module}"
            for path in sorted((ROOT / package).rglob("*.py"))
            for line, module in imported_modules(path) if module in FORBIDDEN[package]]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_follow_the_layers(package: str) -> None:
    assert violations(package) == []


def test_the_rule_sees_a_violation(tmp_path: Path) -> None:
    """The walk finds imports inside functions too (the lazy imports the CLI and API use)."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from api.main import create_app\n    import typer.testing\n")
    assert imported_modules(sample) == [(2, "api"), (3, "typer")]


# --- module graph: no cycles, no private names across modules -------------------------------------------

# Every package of the repository, tests and benchmarks included: a test importing a private function
# freezes an internal as surely as a module does.
PROJECT = ("api", "benchmarks", "cli", "graphrag", "ingestion", "schema", "tests")

# Known debts, to shrink and never to grow: each entry goes once its fix lands (a fixed one left here fails
# `test_the_allow_lists_hold_only_live_debts`). None left among the cycles.
CYCLES_ALLOWED: set[frozenset[str]] = set()
# None left: each test of a private helper now goes through a public function (issue 22 point 4).
PRIVATE_ALLOWED: set[str] = set()


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    return {module_name(p, root): p for package in packages for p in sorted((root / package).rglob("*.py"))}


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None]]:
    """(project module, imported name or None) for every import of `path`, inside functions and
    `TYPE_CHECKING` blocks too (a lazy import is still a dependency; it only moves the cycle's failure
    from import time to the first call). `from package import module` names the module itself."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append((submodule, None) if submodule in modules else (source, alias.name))
    resolved = []
    for target, name in found:
        while target and target not in modules:  # `import a.b.c` of a package: its deepest project module
            target = target.rpartition(".")[0]
        if target and target != module:
            resolved.append((target, name))
    return resolved


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    modules = project_modules(root, packages)
    return {m: {target for target, _ in imports_of(m, p, modules)} for m, p in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The modules of every cycle (strongly connected components of more than one module; Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = {stack.pop()}
            while v not in component:
                component.add(stack.pop())
            if len(component) > 1:
                cycles.add(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def private_imports(root: Path, packages: tuple[str, ...]) -> set[str]:
    """`a imports b._x` for a private name (`_x`, not a dunder) of one module imported by another, and for a
    private module (`pkg._m`) imported from outside the package that holds it."""
    modules = project_modules(root, packages)
    found = set()
    for module, path in modules.items():
        for target, name in imports_of(module, path, modules):
            if name is not None and name.startswith("_") and not name.startswith("__"):
                found.add(f"{module} imports {target}.{name}")
            parts = target.split(".")
            for depth, part in enumerate(parts):
                inside = module == ".".join(parts[:depth]) or module.startswith(".".join(parts[:depth]) + ".")
                if part.startswith("_") and not part.startswith("__") and not inside:
                    found.add(f"{module} imports {target}")
    return found


@pytest.fixture(scope="module")
def cycles() -> set[frozenset[str]]:
    return import_cycles(import_graph(ROOT, PROJECT))


@pytest.fixture(scope="module")
def private() -> set[str]:
    return private_imports(ROOT, PROJECT)


def test_no_import_cycles(cycles: set[frozenset[str]]) -> None:
    """Two modules that import each other, however far round, are one module in two files."""
    assert cycles - CYCLES_ALLOWED == set()


def test_no_private_name_crosses_a_module(private: set[str]) -> None:
    """A private name imported by another module is an interface nobody named (STYLE.md, "Layout")."""
    assert private - PRIVATE_ALLOWED == set()


def test_the_allow_lists_hold_only_live_debts(cycles: set[frozenset[str]], private: set[str]) -> None:
    """A debt paid is struck off (here, in the change that pays it), so the lists only shrink."""
    assert CYCLES_ALLOWED - cycles == set()
    assert PRIVATE_ALLOWED - private == set()


# The faces share `api.operations` and `api.schemas`, never each other's modules (issue 22: the MCP face had
# imported a route's helpers). Starting a face is not reaching into it: `api.main` mounts `api.mcp.http`,
# `graphrag mcp` runs `api.mcp.stdio`.
FACES_APART = {"api.routes": {"api.mcp", "cli"}, "api.mcp": {"api.routes", "cli"}, "cli": {"api.routes"}}


def face_crossings(graph: dict[str, set[str]]) -> list[str]:
    def within(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    return sorted(f"{module} imports {target}" for module, targets in graph.items() for target in targets
                  for face, others in FACES_APART.items() if within(module, face)
                  for other in others if within(target, other))


def test_no_face_imports_another() -> None:
    assert face_crossings(import_graph(ROOT, ("api", "cli"))) == []


def test_the_face_rule_sees_a_crossing() -> None:
    graph = {"api.mcp.tools": {"api.routes.documents", "api.operations"}, "api.routes.ask": {"api.schemas"},
             "cli.search": {"api.mcp.prompt"}}
    assert face_crossings(graph) == ["api.mcp.tools imports api.routes.documents"]


def test_the_graph_rules_see_cycles_and_private_names(tmp_path: Path) -> None:
    """A cycle through a lazy import and a relative one, a private name, a private module used outside its
    package (and inside it, which is allowed)."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for name, text in {
        "__init__.py": "",
        "a.py": "from pkg.b import helper\n",
        "b.py": "def helper():\n    from . import c\n",
        "c.py": "import pkg.a\nfrom pkg.d import _secret\n",
        "d.py": "_secret = 1\nfrom pkg.sub import _util\n",
        "sub/__init__.py": "",
        "sub/_util.py": "",
        "sub/user.py": "from pkg.sub._util import x\n",
    }.items():
        (pkg / name).write_text(text)
    assert import_cycles(import_graph(tmp_path, ("pkg",))) == {frozenset({"pkg.a", "pkg.b", "pkg.c"})}
    assert private_imports(tmp_path, ("pkg",)) == {"pkg.c imports pkg.d._secret", "pkg.d imports pkg.sub._util"}


PUBLIC = {
    "graphrag": {"ArcadeDB", "AsyncArcadeDB", "ChecksumMismatchError", "ConfigError", "DatabaseUnavailableError",
                 "GraphRAGError", "MigrationError", "QueryError", "RetryPolicy", "ServerLaunchError", "Settings",
                 "StoreError", "TruncatedResultError", "get_settings"},
    # what a user builds a retriever from; the channels, PageRank and span finders are internals
    "graphrag.retrieval": {"GraphCache", "HybridRetriever", "Ranking", "RetrievalConfig", "Retriever"},
    "ingestion": {"IngestionConfig", "IngestionPipeline", "IngestionReport", "make_pipeline"},
    "schema": {"MigrationRunner", "MigrationState"},
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_api_is_deliberate(package: str) -> None:
    """`__all__` is the promise to library users: adding or removing a name changes this test too,
    and every promised name exists."""
    module = importlib.import_module(package)
    assert set(module.__all__) == PUBLIC[package]
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert getattr(module, name, None) is not None, f"{package}.{name} is promised but missing"
