"""The layout's rules, checked on the source: data flows one way (ingestion writes, the core reads,
the API and the CLI are thin faces), typer and rich live only in `cli/`, and the packages' public
names change only on purpose."""

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


PUBLIC = {
    "graphrag": {"ArcadeDB", "AsyncArcadeDB", "ChecksumMismatchError", "ConfigError", "DatabaseUnavailableError",
                 "GraphRAGError", "MigrationError", "QueryError", "RetryPolicy", "ServerLaunchError", "Settings",
                 "StoreError", "TruncatedResultError", "get_settings"},
    "graphrag.retrieval": {"ChannelHit", "ChunkRecord", "DenseChannel", "Fused", "GraphCache", "GraphChannel",
                           "HybridRetriever", "KeywordChannel", "PPRRanker", "QuestionAnalysis", "QuestionAnalyzer",
                           "RetrievalConfig", "Retriever", "candidate_spans", "format_path", "longest_matches",
                           "personalized_pagerank", "plain_terms", "reciprocal_rank_fusion"},
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


def module_imports(package: str) -> dict[str, set[str]]:
    """Each module of `package` -> the modules of `package` it imports (anywhere in the file)."""
    paths = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {target for target in found if target in paths and target != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or around a loop (strongly connected
    components of more than one module)."""
    reach = {name: set() for name in graph}
    for start in graph:
        todo = list(graph[start])
        while todo:
            name = todo.pop()
            if name not in reach[start]:
                reach[start].add(name)
                todo.extend(graph[name])
    groups = {frozenset({a} | {b for b in reach[a] if a in reach[b]}) for a in graph if a in reach[a]}
    return sorted(sorted(group) for group in groups)


def test_the_cycle_rule_sees_a_cycle() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_api_has_no_import_cycle() -> None:
    """The app (`api.main`) never imports how it is served (`api.server`, which builds it); lazy imports
    inside functions count too. (The ingestion pair is issue 22's point 5 for that package.)"""
    assert import_cycles(module_imports("api")) == []
