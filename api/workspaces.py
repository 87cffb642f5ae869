"""The API's workspaces: each one's working parts, built on first use over its own database client.

Which workspace a request works in comes from its path alone (`/v1/workspaces/{workspace}/...`;
the unprefixed `/v1/...` paths are the default workspace), and its parts are bound to that
workspace's database when they are built: nothing a request sends can point a query at another
database. The parts share the models (`api.components.ComponentFactory`), so an idle workspace
costs a few small objects here.

Whether a workspace exists is the server's answer (its databases), cached for `KNOWN_TTL_S`, so a
workspace another replica or the CLI made is found at once, and one it dropped stops answering
within that time.

Incarnations: a request is authorised for the workspace as it is then (its incarnation,
`schema.workspaces.WorkspaceCatalog.incarnation`), not for its name. Every write runs inside
`writing`, which asks the server for the incarnation again and refuses (`WorkspaceGoneError`) a
write for one that was deleted, even when a workspace of the same name exists again: an upload that
stalled while its workspace was deleted and re-made does not land in the new one. A delete first
refuses new writes, then waits for the writes in flight in this process to end.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.concurrency import run_in_threadpool

from api.deps import ComponentBuilder, Components
from api.records import WorkspaceRecords
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from schema.workspaces import (
    DEFAULT,
    WorkspaceBusyError,
    WorkspaceCatalog,
    WorkspaceGoneError,
    check_name,
    settings_for,
)

log = logging.getLogger(__name__)

KNOWN_TTL_S = 5.0  # how long "this workspace exists" is trusted without asking the server again
DRAIN_TIMEOUT_S = 120.0  # how long a delete waits for the writes in flight (each one is within its ingest budget)


class Workspaces:
    """Every workspace's `Components`, by name.

    Args:
        settings: the service's settings (the default workspace's).
        db: the default workspace's client; the others share its connections.
        default: the default workspace's parts, built at start.
        build: `(settings, db) -> Components` for another workspace; None: they get empty parts
            (every route answers 501 "not configured"), as a test app built from fixed components does.
    """

    def __init__(self, settings: Settings, db: ArcadeDB, default: Components, build: ComponentBuilder | None):
        self.settings = settings
        self.catalog = WorkspaceCatalog(settings, db)
        self.records = WorkspaceRecords(db)  # the jobs and keys a drop checks and forgets
        self._build = build
        self._parts: dict[str, Components] = {DEFAULT: default}
        self._known: frozenset[str] = frozenset({DEFAULT})
        self._known_at = -KNOWN_TTL_S
        self._lock = asyncio.Lock()
        self._incarnations: dict[str, str] = {DEFAULT: DEFAULT}  # as last asked; `writing` asks again
        self._writers: dict[str, int] = {}  # writes in flight per workspace (this process)
        self._deleting: set[str] = set()
        self._drained = asyncio.Condition()

    async def names(self) -> list[str]:
        """Every workspace, asking the server."""
        names = await run_in_threadpool(self.catalog.names)
        self._known, self._known_at = frozenset(names), time.monotonic()
        return names

    async def exists(self, name: str) -> bool:
        if name == DEFAULT:
            return True
        if name in self._known and time.monotonic() - self._known_at < KNOWN_TTL_S:
            return True
        return name in await self.names()

    async def incarnation(self, name: str, *, fresh: bool = False) -> str | None:
        """The workspace's incarnation (None: no such workspace): as last asked, or with `fresh` as the
        server says now."""
        if not fresh and name in self._incarnations:
            return self._incarnations[name]
        found = await run_in_threadpool(self.catalog.incarnation, name)
        if found is None:
            self._incarnations.pop(name, None)
        else:
            self._incarnations[name] = found
        return found

    @asynccontextmanager
    async def writing(self, name: str, incarnation: str | None) -> AsyncIterator[None]:
        """Run a write for the `incarnation` of workspace `name` it was authorised for; refused with
        `WorkspaceGoneError` when that one is being deleted, was deleted, or was replaced by a new
        workspace of the same name. A delete waits for the writes inside this block to end."""
        if name in self._deleting:
            raise WorkspaceGoneError(name, replaced=False, deleting=True)
        now = await self.incarnation(name, fresh=True)
        if name in self._deleting:  # the delete began while the server was asked
            raise WorkspaceGoneError(name, replaced=False, deleting=True)
        # (an incarnation of None: a caller from before incarnations, checked for existence only)
        if now is None or (incarnation is not None and now != incarnation):
            raise WorkspaceGoneError(name, replaced=now is not None)
        self._writers[name] = self._writers.get(name, 0) + 1
        try:
            yield
        finally:
            self._writers[name] -= 1
            if not self._writers[name]:
                del self._writers[name]
                async with self._drained:
                    self._drained.notify_all()

    @asynccontextmanager
    async def deleting(self, name: str, timeout_s: float = DRAIN_TIMEOUT_S) -> AsyncIterator[None]:
        """While inside: new writes to `name` are refused, and the ones in flight here have ended
        (waited for up to `timeout_s`, else `WorkspaceBusyError` and writes are allowed again)."""
        self._deleting.add(name)
        try:
            async with self._drained:
                try:
                    await asyncio.wait_for(self._drained.wait_for(lambda: not self._writers.get(name)), timeout_s)
                except TimeoutError:
                    raise WorkspaceBusyError(f"workspace {name!r} still has writes in flight after {timeout_s:.0f} s; "
                                             "try the delete again") from None
            yield
        finally:
            self._deleting.discard(name)

    async def components(self, name: str) -> Components | None:
        """The parts of workspace `name`, or None when there is no such workspace."""
        if not await self.exists(name):
            self._parts.pop(name, None)  # dropped by another process
            self._incarnations.pop(name, None)
            return None
        parts = self._parts.get(name)
        if parts is not None:
            return parts
        async with self._lock:
            if name not in self._parts:
                self._parts[name] = await run_in_threadpool(self._make, name)
            return self._parts[name]

    def _make(self, name: str) -> Components:
        if self._build is None:
            return Components()
        log.info("workspace %s: building its working parts", name)
        return self._build(settings_for(self.settings, name), self.catalog.client(name))

    async def create(self, name: str) -> bool:
        """Create and migrate the workspace's database; False when it already existed."""
        check_name(name)
        created = await run_in_threadpool(self.catalog.create, name)
        self._known, self._known_at = self._known | {name}, time.monotonic()
        self._incarnations.pop(name, None)  # a new one if it was made again: asked on next use
        return created

    async def drop(self, name: str) -> bool:
        """Drop the workspace's database; False when there was none."""
        dropped = await run_in_threadpool(self.catalog.drop, name, self.records)
        self._known = self._known - {name}
        self._incarnations.pop(name, None)
        parts = self._parts.pop(name, None)
        if parts is not None:
            await close_parts(parts)
        return dropped

    async def aclose(self) -> None:
        for parts in list(self._parts.values()):
            await close_parts(parts)
        self._parts.clear()


async def close_parts(parts: Components) -> None:
    """Run a workspace's closers (awaiting the async ones); shutdown goes on past a failing one."""
    for closer in parts.closers:
        try:
            result: Any = closer()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("closing %r failed", closer)
