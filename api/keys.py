"""API keys: random tokens shown once, stored only as a SHA-256 hash in the database (`ApiKey`).

A key is 32 random bytes, so a fast hash is enough (there is nothing to brute-force); the hash is
indexed UNIQUE, so checking a key is one indexed read. Keys live in the database rather than in a
file so every API replica sees the same keys and a revocation applies everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from api import statements
from graphrag.arcadedb import ArcadeDB, AsyncArcadeDB
from schema.workspaces import DEFAULT, WorkspaceNameError, check_name

KEY_PREFIX = "grk_"
# How long a verified key is trusted without asking the database again (a revocation waits at most this
# long; `api_key_cache_s`, at most 5 s). Still only one lookup per key every 4 s.
CACHE_TTL_S = 4.0
_CACHE_MAX = 1024


class Scope(StrEnum):
    """`read`: ask, retrieve, graph, document reads. `admin`: all of read, plus ingest and delete.
    `global_` ("global"): admin in every workspace, and creates and deletes workspaces."""

    read = "read"
    admin = "admin"
    global_ = "global"

    @classmethod
    def parse(cls, value: object) -> Scope | None:
        """The scope named `value`, or None for anything else (a stored value is never trusted)."""
        return next((scope for scope in cls if scope.value == value), None)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a key's scope and the workspaces it is bound to (None: all of them)."""

    key_id: str
    scope: Scope
    workspaces: frozenset[str] | None = frozenset({DEFAULT})

    def allows(self, needed: Scope) -> bool:
        if self.scope is Scope.global_:
            return True
        return needed is Scope.read or (needed is Scope.admin and self.scope is Scope.admin)

    def sees(self, workspace: str) -> bool:
        """Whether the key is bound to `workspace`: any other one answers 404, as if it did not exist."""
        return self.workspaces is None or workspace in self.workspaces


ANONYMOUS = Principal("anonymous", Scope.global_, None)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_key(db: ArcadeDB, scope: Scope, name: str = "", workspaces: Iterable[str] = (DEFAULT,)) -> tuple[str, str]:
    """Store a new key's hash and return `(plaintext, key_id)`: the plaintext is never stored.

    The key is bound to `workspaces` (ignored for the global scope, which reaches every workspace);
    the names are checked, not whether the workspaces exist yet: a key may be made before its
    workspace."""
    bound = sorted({check_name(w) for w in workspaces}) if scope is not Scope.global_ else []
    if scope is not Scope.global_ and not bound:
        raise WorkspaceNameError("a read or admin key needs at least one workspace")
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = secrets.token_hex(6)
    db.cypher(statements.CREATE_KEY,
              {"id": key_id, "hash": hash_key(plaintext), "scope": scope.value, "name": name,
               "created": datetime.now(UTC).isoformat(timespec="seconds"), "workspaces": bound}, idempotent=False)
    return plaintext, key_id


def bound_workspaces(scope: Scope, stored: Any) -> frozenset[str] | None:
    """The workspaces a stored key reaches: every one for the global scope; the default workspace
    for a key made before workspaces existed (no list stored), so old keys keep working unchanged."""
    if scope is Scope.global_:
        return None
    if not stored:
        return frozenset({DEFAULT})
    return frozenset(str(w) for w in stored)


def revoke_key(db: ArcadeDB, key_id: str) -> bool:
    rows = db.cypher(statements.REVOKE_KEY, {"id": key_id})
    return bool(rows)


def list_keys(db: ArcadeDB) -> list[dict[str, Any]]:
    rows = db.cypher(statements.LIST_KEYS)
    for row in rows:
        scope = Scope.parse(row.get("scope"))
        bound = bound_workspaces(scope, row.get("workspaces")) if scope else frozenset()
        row["workspaces"] = ["*"] if bound is None else sorted(bound)
    return rows


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

    def clear(self) -> None:
        """Forget every cached answer: keys just changed here (a deleted workspace's keys were revoked or
        unbound). Other API processes see the change within `ttl_s`, as they see any revocation."""
        self._cache.clear()

    async def verify(self, plaintext: str) -> Principal | None:
        known = self.cached(plaintext)
        if known is not None:
            return known
        digest = hash_key(plaintext)
        asked_at = self.clock()  # the answer is as of the question: a revocation during the lookup still counts
        rows = await self.db.cypher(statements.KEY_BY_HASH, {"hash": digest})
        scope = Scope.parse(rows[0].get("scope")) if rows else None
        if not rows or rows[0].get("revoked") or scope is None:
            self._cache.pop(digest, None)
            return None
        principal = Principal(str(rows[0]["id"]), scope, bound_workspaces(scope, rows[0].get("workspaces")))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (asked_at, principal)
        return principal
