"""Connections for tile statements: asyncpg pools without the per-release reset round trip.

The API's pool resets every connection it takes back (``RESET ALL; UNLISTEN *; …``: one more round
trip per request). Tile statements are single read-only ``SELECT``s that leave no session state, so
their pools skip it. Reads go to a healthy replica of the app's :class:`~gis_platform.db.pool.Database`
when it has one (round robin), else to the primary.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from gis_platform.db.pool import CONNECT_ERRORS, LOST_ERRORS
from gis_platform.errors import DatabaseUnavailable
from gis_platform.settings import DatabaseSettings

logger = logging.getLogger(__name__)


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """Tile statements change no session state: nothing to reset."""


class TileConnections:
    """Pools (created lazily, per DSN) for tile statements."""

    def __init__(self, dsn: str, settings: DatabaseSettings, *, max_size: int, database: Any = None) -> None:
        self.dsn = dsn
        self.settings = settings
        self.max_size = max_size
        self.database = database  # the app's Database: its replicas and their health
        self._pools: dict[str, asyncpg.Pool] = {}
        self._round_robin = itertools.count()
        self._lock = asyncio.Lock()
        self._releasing: set[asyncio.Future[None]] = set()

    async def _pool(self, dsn: str) -> asyncpg.Pool:
        pool = self._pools.get(dsn)
        if pool is not None:
            return pool
        async with self._lock:
            pool = self._pools.get(dsn)
            if pool is not None:
                return pool
            pool = await asyncpg.create_pool(
                dsn,
                min_size=0,
                max_size=self.max_size,
                reset=_no_reset,
                timeout=self.settings.connect_timeout_s,
                max_inactive_connection_lifetime=300,
                server_settings={
                    "application_name": "gis_platform_tiles",
                    "statement_timeout": str(self.settings.tiles_statement_timeout_ms),
                    "jit": "off",
                },
            )
            self._pools[dsn] = pool
            return pool

    def _read_dsn(self) -> str:
        replicas = [r for r in getattr(self.database, "replicas", ()) if getattr(r, "healthy", False)]
        if not replicas:
            return self.dsn
        return str(replicas[next(self._round_robin) % len(replicas)].dsn)

    def _replica_failed(self, dsn: str) -> None:
        """Take a replica out of the read rotation until its next health check passes."""
        for replica in getattr(self.database, "replicas", ()):
            if replica.dsn == dsn and replica.healthy:
                logger.warning("tiles: a replica is unreachable; reading from the primary")
                replica.healthy = False

    async def _acquire(self, dsn: str) -> tuple[asyncpg.Pool, asyncpg.Connection]:
        pool = await self._pool(dsn)
        # asyncio.timeout, not acquire(timeout=…): that one wraps the wait in a task (a loop turn)
        async with asyncio.timeout(self.settings.pool_timeout_s):  # connecting: connect_timeout_s
            return pool, await pool.acquire()

    @asynccontextmanager
    async def connection(self, *, primary: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one tile statement; connection failures become a 503 problem."""
        dsn = self.dsn if primary else self._read_dsn()
        try:
            try:
                pool, conn = await self._acquire(dsn)
            except CONNECT_ERRORS:
                if dsn == self.dsn:
                    raise
                # a replica dead since its last health check: the primary serves this read
                self._replica_failed(dsn)
                pool, conn = await self._acquire(self.dsn)
        except CONNECT_ERRORS as exc:
            logger.warning("tiles cannot reach the database: %s", type(exc).__name__)
            raise DatabaseUnavailable("The database is not reachable; retry in a few seconds.") from exc
        try:
            yield conn
        except LOST_ERRORS as exc:
            logger.warning("tile database connection lost: %s", type(exc).__name__)
            if dsn != self.dsn:
                self._replica_failed(dsn)
            raise DatabaseUnavailable("The database connection was lost; retry in a few seconds.") from exc
        finally:
            # returned to the pool after the answer: the release costs a turn of the event loop
            task = asyncio.ensure_future(pool.release(conn))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)

    async def close(self) -> None:
        """Close every pool."""
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
