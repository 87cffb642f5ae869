"""Applied migrations never change what they do, and they run only code in their own files.

The runner refuses a database whose applied migration's file changed (`schema/runner.py`: the checksum
covers the file and its parameters). It cannot see code a migration imports, so a migration imports
no project code. v4 and v5 once did (`fold_accents`, `SET_MENTION_COUNTS`); they now carry their own
copies, and their first texts are kept in `schema/versions/former/`, whose checksums the runner still
accepts. Those copies must stay what the imported code was when the migrations shipped.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from schema.runner import discover

VERSIONS = Path(__file__).resolve().parents[2] / "schema" / "versions"

# sha256 of each migration's file as it is now; a file already applied somewhere is never edited
# except to carry its own copies of what it imported (keep its former text in former/)
CURRENT = {
    "v0001_initial.py": "3c4cfd18c0e9892c7cde372d9fe9eb7eacfd0e893e141e79b962e53e00da882e",
    "v0002_ingestion.py": "2f444b1c44274753171afe56c8c3c192ac56bdfd1eb64e1a2846b80fde342801",
    "v0003_api.py": "388fb53976d0d73e83020178cbb9a5e64a81455fd9ad34ab21c82bf05d4da51c",
    "v0004_cooccurrence_on_mentions.py": "2075c90bcb7c966ea85b1808ed5eb5e05e461a3f10177036af08b4a6ff7460f0",
    "v0005_entity_mention_counts.py": "f70817481c75acdbd1fbbddaee92fa3a2469af99481f0ed3d11a31afb0a63eed",
    "v0006_graph_changes.py": "c1fae8b552103cef6c3af64d7bfee78f30f4b48973d157777dfe6ab308ddd7ba",
}
# the texts databases recorded before v4 and v5 were given their own copies
FORMER = {
    "v0004_cooccurrence_on_mentions.1.txt": "2607974d71e9f55e2b0cc7d6cda9d91ec3ca49478d9051b19c2ff60febb15592",
    "v0005_entity_mention_counts.1.txt": "d28a4bfb16e8ef2b8ac589195e49f3f51c3d222e8ef20fcd3f6c0bdd2e5e54f9",
}
PROJECT = {"graphrag", "api", "cli", "ingestion", "schema"}

SET_MENTION_COUNTS_AT_V5 = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
WHERE coalesce(e.mentions, 0) <= $cap
WITH e, node.degree.in(e, 'MENTIONS') AS n
SET e.mentions = CASE WHEN n > $cap THEN $cap + 1 ELSE n END
"""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_migration_file_changed() -> None:
    """A new migration is added beside these; these are not edited."""
    assert {name: _digest(VERSIONS / name) for name in CURRENT} == CURRENT
    assert {path.name for path in VERSIONS.glob("v*.py")} == set(CURRENT)


def test_the_former_texts_are_what_databases_recorded() -> None:
    assert {path.name: _digest(path) for path in (VERSIONS / "former").glob("*.txt")} == FORMER
    assert [m.former_texts() for m in discover() if m.former_texts()] == \
        [[VERSIONS / "former" / name] for name in sorted(FORMER)]


def test_no_migration_imports_project_code() -> None:
    for path in VERSIONS.glob("v*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not {n.split(".")[0] for n in names} & PROJECT, f"{path.name} imports {names}"


def test_the_copies_are_what_v4_and_v5_ran_when_they_shipped() -> None:
    from schema.versions import v0004_cooccurrence_on_mentions as v4
    from schema.versions import v0005_entity_mention_counts as v5

    assert v5.SET_MENTION_COUNTS == SET_MENTION_COUNTS_AT_V5
    assert v5.MENTION_COUNT_CAP == 1000
    assert [v4.fold_accents(k) for k in ("aschenbrödel", "łódź", "crème brûlée", "ﬁlm", "plain", "ǅ")] == \
        ["aschenbrodel", "łodz", "creme brulee", "film", "plain", "Dz"]
