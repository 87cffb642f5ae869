"""The MCP face over stdio (`graphrag mcp`), for desktop clients that start the server as a subprocess.

Whoever can start it already holds the database credentials, so it acts as admin unless started with
`--read-only`. It answers `initialize` at once and loads the models in the background, so a client's
start-up timeout is not spent on them; a tool called before they are ready waits.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from mcp.server.mcpserver import Context, MCPServer

from api.deps import Components, Workspace
from api.keys import ANONYMOUS, Principal
from api.keys import Scope as KeyScope
from api.mcp.callers import STDIO_READ_ONLY, fixed_caller
from api.mcp.errors import Diagnose
from api.mcp.server import build_server
from graphrag.config import Settings
from graphrag.errors import ConfigError, DatabaseUnavailableError
from schema.workspaces import DEFAULT

log = logging.getLogger(__name__)


class LazyComponents:
    """The stdio server's working parts, built once in a worker thread: started in the background at
    launch, awaited by the first call that needs them, built again by the next call if building
    failed (the database may come up after the client started the server)."""

    def __init__(self, build: Callable[[], Components]):
        self._build = build
        self._lock = threading.Lock()
        self._parts: Components | None = None

    def _get_blocking(self) -> Components:
        with self._lock:
            if self._parts is None:
                self._parts = self._build()
            return self._parts

    def warm_up(self) -> None:
        """Start building in a daemon thread; a failure is logged and left for the next call to retry."""

        def run() -> None:
            try:
                self._get_blocking()
            except Exception as exc:
                log.warning("MCP: could not load the service yet (%s); the next tool call tries again", exc)

        threading.Thread(target=run, name="mcp-warm-up", daemon=True).start()

    async def __call__(self) -> Components:
        if self._parts is not None:
            return self._parts
        return await anyio.to_thread.run_sync(self._get_blocking)

    @property
    def built(self) -> Components | None:
        return self._parts


def stdio_components(settings: Settings, workspace: str = DEFAULT,
                     ) -> tuple[LazyComponents, Callable[[], Awaitable[None]]]:
    """The lazily built components of `workspace`, and a coroutine function that closes what was built."""
    from api.components import build_components
    from graphrag.arcadedb import ArcadeDB
    from graphrag.launch import open_database
    from schema.runner import require_head
    from schema.workspaces import WorkspaceCatalog, settings_for

    opened: list[ArcadeDB] = []

    def build() -> Components:
        control = opened[0] if opened else open_database(settings)
        if not opened:
            opened.append(control)
        db = WorkspaceCatalog(settings, control).require(workspace)  # never creates a workspace
        require_head(db, settings.embedding_dim)  # refuse a database behind the code's schema, as the API does
        return build_components(settings_for(settings, workspace), db)

    lazy = LazyComponents(build)

    async def aclose() -> None:
        parts = lazy.built
        for closer in parts.closers if parts else []:
            try:
                result = closer()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # closing goes on regardless
                log.exception("closing %r failed", closer)
        for db in opened:
            db.close()

    return lazy, aclose


def stdio_diagnosis(settings: Settings) -> Diagnose:
    """What `graphrag mcp` tells its user when it cannot reach its database: the client started it in a
    folder of its own, so a relative data folder (GRAPHRAG_DATA_DIR unset) is the usual cause, and an
    embedded server that is not running the other."""
    data_dir = settings.data_dir.resolve()
    set_it = (f"The data folder is {data_dir}; set GRAPHRAG_DATA_DIR in the MCP client's configuration to the "
              "absolute path of the folder `make run` or `graphrag db start` uses (the repository's .data)")

    def diagnose(exc: Exception) -> str | None:
        if isinstance(exc, ConfigError):
            return f"the server cannot reach its database: {exc}. {set_it}."
        if isinstance(exc, DatabaseUnavailableError) and settings.embedded and settings.password_file.exists():
            from graphrag.launch import embedded_server  # (with the password file there, it creates nothing)

            try:
                running = embedded_server(settings).status().running
            except Exception:  # the status is a hint; the outage itself is already known
                return None
            if not running:
                return (f"the database is not running: no ArcadeDB server holds {data_dir}. Start it with "
                        "`graphrag db start` (or `make run`), then call again. " + set_it + " if it is elsewhere.")
        return None

    return diagnose


def run_stdio(settings: Settings, *, read_only: bool = False, workspace: str = DEFAULT) -> None:
    """Serve MCP over stdin/stdout until the client closes it (`graphrag mcp [--workspace NAME]`); every
    call works in `workspace`."""
    lazy, aclose = stdio_components(settings, workspace)

    async def parts(ctx: Context) -> Workspace:
        return Workspace(workspace, await lazy())

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        # Entered once the transport holds stdout: the SDK then points fd 1 at stderr, so whatever
        # loading the models prints cannot corrupt the protocol stream.
        lazy.warm_up()
        try:
            yield
        finally:
            await aclose()

    principal = Principal(STDIO_READ_ONLY, KeyScope.read) if read_only else ANONYMOUS
    server = build_server(parts, fixed_caller(principal), lifespan=lifespan, diagnose=stdio_diagnosis(settings))
    anyio.run(server.run_stdio_async)
