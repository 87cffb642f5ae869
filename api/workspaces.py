"""The API's workspaces: each one's working parts, built on first use over its own database client.

Which workspace a request works in comes from its path alone (`/v1/workspaces/{workspace}/...`;
the unprefixed `/v1/...` paths are the default workspace), and its parts are bound to that
workspace's database when they are built: nothing a request sends can point a query at another
database. The parts share the models (`api.components.ComponentFactory`), so an idle workspace
costs a few small objects here.

Whether a workspace exists is the server's answer (its databases), cached for `KNOWN_TTL_S`, so a
workspace another replica or the CLI made is found at once, and one it dropped stops answering
within that time.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool

from api.deps import ComponentBuilder, Components
from graphrag.arcadedb import ArcadeDB
from graphrag.config import Settings
from schema.workspaces import DEFAULT, WorkspaceCatalog, check_name, settings_for

log = logging.getLogger(__name__)

KNOWN_TTL_S = 5.0  # how long "this workspace exists" is trusted without asking the server again


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
        self._build = build
        self._parts: dict[str, Components] = {DEFAULT: default}
        self._known: frozenset[str] = frozenset({DEFAULT})
        self._known_at = -KNOWN_TTL_S
        self._lock = asyncio.Lock()

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

    async def components(self, name: str) -> Components | None:
        """The parts of workspace `name`, or None when there is no such workspace."""
        if not await self.exists(name):
            self._parts.pop(name, None)  # dropped by another process
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
        return created

    async def drop(self, name: str) -> bool:
        """Drop the workspace's database; False when there was none."""
        dropped = await run_in_threadpool(self.catalog.drop, name)
        self._known = self._known - {name}
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
