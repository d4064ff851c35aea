"""The API's asyncpg pool: created in the app's lifespan, never at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from gis_platform.errors import DatabaseUnavailable
from gis_platform.settings import DatabaseSettings

logger = logging.getLogger(__name__)

_CONNECT_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)
# Inside a request only errors of the connection itself mean "database down"; other OSErrors
# (a full tile-cache disk, say) are the handler's own business.
_LOST_ERRORS = (
    ConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)


class Database:
    """A lazily connecting pool; connection failures surface as :class:`DatabaseUnavailable`.

    The pool starts with no connections, so the app starts while the database is down and recovers
    by itself when it returns (asyncpg drops broken connections when they are released).
    """

    def __init__(self, dsn: str, settings: DatabaseSettings) -> None:
        self.dsn = dsn
        self.settings = settings
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Create the pool (connects on first use)."""
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=self.settings.pool_max_size,
            timeout=self.settings.connect_timeout_s,
            max_inactive_connection_lifetime=300,
            server_settings={
                "application_name": "gis_platform",
                "statement_timeout": str(self.settings.statement_timeout_ms),
                # JIT compilation costs more than it saves on the short statements of tiles and pages.
                "jit": "off",
            },
        )

    async def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The underlying pool (open)."""
        if self._pool is None:
            raise RuntimeError("database pool is not open")
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """Acquire a connection, turning connection failures into a 503 problem."""
        try:
            conn = await self.pool.acquire(timeout=self.settings.connect_timeout_s)
        except _CONNECT_ERRORS as exc:
            logger.warning("cannot reach the database: %s", type(exc).__name__)
            raise DatabaseUnavailable("The database is not reachable; retry in a few seconds.") from exc
        try:
            yield conn
        except _LOST_ERRORS as exc:
            logger.warning("database connection lost: %s", type(exc).__name__)
            raise DatabaseUnavailable("The database connection was lost; retry in a few seconds.") from exc
        finally:
            await self.pool.release(conn)
