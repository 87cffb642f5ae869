"""Applied migrations never change, and neither does the shared code two of them run.

The runner refuses a database whose applied migration's file changed (`schema/runner.py`: the checksum
covers the file and its parameters). v4 and v5 also run code outside their files: v4 calls
`graphrag.normalize.fold_accents`, v5 runs `graphrag.queries.SET_MENTION_COUNTS` with
`graphrag.store.MENTION_COUNT_CAP`. The checksum cannot see those, and editing the two files to carry
their own copies would change their checksums and make the runner refuse every database migrated
since (`ChecksumMismatchError`). So the shared pieces are frozen here instead: change one and this test
fails. Then give the migration its own copy in a new migration (or teach the runner the former
checksum) rather than editing v4 or v5.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from graphrag import queries
from graphrag.normalize import fold_accents
from graphrag.store import MENTION_COUNT_CAP

VERSIONS = Path(__file__).resolve().parents[2] / "schema" / "versions"

# sha256 of each applied migration's file, as databases have recorded them (with their parameters)
APPLIED = {
    "v0001_initial.py": "3c4cfd18c0e9892c7cde372d9fe9eb7eacfd0e893e141e79b962e53e00da882e",
    "v0002_ingestion.py": "2f444b1c44274753171afe56c8c3c192ac56bdfd1eb64e1a2846b80fde342801",
    "v0003_api.py": "388fb53976d0d73e83020178cbb9a5e64a81455fd9ad34ab21c82bf05d4da51c",
    "v0004_cooccurrence_on_mentions.py": "2607974d71e9f55e2b0cc7d6cda9d91ec3ca49478d9051b19c2ff60febb15592",
    "v0005_entity_mention_counts.py": "d28a4bfb16e8ef2b8ac589195e49f3f51c3d222e8ef20fcd3f6c0bdd2e5e54f9",
    "v0006_graph_changes.py": "c1fae8b552103cef6c3af64d7bfee78f30f4b48973d157777dfe6ab308ddd7ba",
}

SET_MENTION_COUNTS_AT_V5 = """
UNWIND $keys AS k
MATCH (e:Entity {key: k})
WHERE coalesce(e.mentions, 0) <= $cap
WITH e, node.degree.in(e, 'MENTIONS') AS n
SET e.mentions = CASE WHEN n > $cap THEN $cap + 1 ELSE n END
"""


def test_no_applied_migration_file_changed() -> None:
    """A new migration is added beside these; these are never edited."""
    found = {name: hashlib.sha256((VERSIONS / name).read_bytes()).hexdigest() for name in APPLIED}
    assert found == APPLIED


def test_the_shared_code_v5_runs_is_what_it_ran_when_applied() -> None:
    assert queries.SET_MENTION_COUNTS == SET_MENTION_COUNTS_AT_V5
    assert MENTION_COUNT_CAP == 1000


def test_the_folding_v4_runs_is_what_it_ran_when_applied() -> None:
    assert [fold_accents(k) for k in ("aschenbrödel", "łódź", "crème brûlée", "ﬁlm", "plain", "ǅ")] == \
        ["aschenbrodel", "łodz", "creme brulee", "film", "plain", "Dz"]
