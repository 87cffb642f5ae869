"""API keys: random tokens shown once, stored only as a SHA-256 hash in the database (`ApiKey`).

A key is 32 random bytes, so a fast hash is enough (there is nothing to brute-force); the hash is
indexed UNIQUE, so checking a key is one indexed read. Keys live in the database rather than in a
file so every API replica sees the same keys and a revocation applies everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from graphrag.arcadedb import ArcadeDB, AsyncArcadeDB

KEY_PREFIX = "grk_"
# How long a verified key is trusted without asking the database again (a revocation waits at most this
# long; `api_key_cache_s`, at most 5 s). Still only one lookup per key every 4 s.
CACHE_TTL_S = 4.0
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
    """Checks presented keys against the database, caching positive answers for `ttl_s`.

    Only valid keys are cached: a wrong key is never remembered, so the failed-authentication limit
    (`api.security.FailedAuthLimiter`) is what keeps wrong keys from costing one lookup each.
    """

    def __init__(self, db: AsyncArcadeDB, ttl_s: float = CACHE_TTL_S, *, clock: Callable[[], float] = time.monotonic):
        self.db = db
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, Principal]] = {}

    def cached(self, plaintext: str) -> Principal | None:
        """The principal of a key verified less than `ttl_s` ago, without asking the database."""
        hit = self._cache.get(hash_key(plaintext))
        if hit is not None and self.clock() - hit[0] < self.ttl_s:
            return hit[1]
        return None

    async def verify(self, plaintext: str) -> Principal | None:
        known = self.cached(plaintext)
        if known is not None:
            return known
        digest = hash_key(plaintext)
        asked_at = self.clock()  # the answer is as of the question: a revocation during the lookup still counts
        rows = await self.db.cypher("MATCH (k:ApiKey {hash: $hash}) RETURN k.id AS id, k.scope AS scope, "
                                    "k.revoked AS revoked", {"hash": digest})
        if not rows or rows[0].get("revoked") or rows[0].get("scope") not in Scope.__members__:
            self._cache.pop(digest, None)
            return None
        principal = Principal(str(rows[0]["id"]), Scope(rows[0]["scope"]))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (asked_at, principal)
        return principal
