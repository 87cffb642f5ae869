"""API keys: random tokens shown once, stored only as a SHA-256 hash in the database (`ApiKey`).

A key is 32 random bytes, so a fast hash is enough (there is nothing to brute-force); the hash is
indexed UNIQUE, so checking a key is one indexed read. Keys live in the database rather than in a
file so every API replica sees the same keys and a revocation applies everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from graphrag.arcadedb import ArcadeDB, AsyncArcadeDB

KEY_PREFIX = "grk_"
# How long a verified key is trusted without asking the database again (a revocation waits this long).
CACHE_TTL_S = 30.0
_CACHE_MAX = 1024


class Scope(StrEnum):
    """`read`: ask, retrieve, graph, document reads. `admin`: all of read, plus ingest and delete."""

    read = "read"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    key_id: str
    scope: Scope

    def allows(self, needed: Scope) -> bool:
        return self.scope is Scope.admin or needed is Scope.read


ANONYMOUS = Principal("anonymous", Scope.admin)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_key(db: ArcadeDB, scope: Scope, name: str = "") -> tuple[str, str]:
    """Store a new key's hash and return `(plaintext, key_id)`: the plaintext is never stored."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = secrets.token_hex(6)
    db.cypher("CREATE (k:ApiKey {id: $id, hash: $hash, scope: $scope, name: $name, created_at: $created, "
              "revoked: false})",
              {"id": key_id, "hash": hash_key(plaintext), "scope": scope.value, "name": name,
               "created": datetime.now(UTC).isoformat(timespec="seconds")}, idempotent=False)
    return plaintext, key_id


def revoke_key(db: ArcadeDB, key_id: str) -> bool:
    rows = db.cypher("MATCH (k:ApiKey {id: $id}) SET k.revoked = true RETURN k.id AS id", {"id": key_id})
    return bool(rows)


def list_keys(db: ArcadeDB) -> list[dict[str, Any]]:
    return db.cypher("MATCH (k:ApiKey) RETURN k.id AS id, k.scope AS scope, k.name AS name, "
                     "k.created_at AS created_at, k.revoked AS revoked ORDER BY k.created_at")


class KeyVerifier:
    """Checks presented keys against the database, caching positive answers for `CACHE_TTL_S`."""

    def __init__(self, db: AsyncArcadeDB, ttl_s: float = CACHE_TTL_S):
        self.db = db
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def verify(self, plaintext: str) -> Principal | None:
        digest = hash_key(plaintext)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        rows = await self.db.cypher("MATCH (k:ApiKey {hash: $hash}) RETURN k.id AS id, k.scope AS scope, "
                                    "k.revoked AS revoked", {"hash": digest})
        if not rows or rows[0].get("revoked") or rows[0].get("scope") not in Scope.__members__:
            self._cache.pop(digest, None)
            return None
        principal = Principal(str(rows[0]["id"]), Scope(rows[0]["scope"]))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now, principal)
        return principal
