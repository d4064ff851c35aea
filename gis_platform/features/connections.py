"""Connections of the features routes: pools whose sessions start with the page statements' settings.

Page statements want ``plan_cache_mode = force_custom_plan`` (a generic plan cannot see how selective
a bbox is: 250 ms instead of 5 ms on a 1M-point layer), ``max_parallel_workers_per_gather = 0``
(workers cost more to start than a page takes), JIT off and the features statement timeout. Given as
startup settings of the pool's connections they cost no round trip per request. Nothing else changes a
session (cursors live in transactions, which asyncpg rolls back on release), so release skips the
``RESET ALL`` round trip; a request kind with another statement timeout (downloads) sets its own and
resets it before release. Reads go to a healthy replica of the app's
:class:`~gis_platform.db.pool.Database` when it has one (round robin), else to the primary.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from gis_platform.db.pool import CONNECT_ERRORS, LOST_ERRORS, SET_STATEMENT_TIMEOUT_SQL, STATEMENT_TIMEOUT_MS
from gis_platform.errors import DatabaseUnavailable
from gis_platform.settings import DatabaseSettings

logger = logging.getLogger(__name__)


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """Nothing to reset on release: the sessions keep their startup settings (see ``connection``).

    asyncpg still rolls back an open transaction (which closes its cursors) and drops listeners first.
    """


class FeatureConnections:
    """Pools (created lazily, per DSN) for the features routes."""

    def __init__(self, dsn: str, settings: DatabaseSettings, *, database: Any = None) -> None:
        self.dsn = dsn
        self.settings = settings
        self.database = database  # the app's Database: its replicas and their health
        self.timeout_ms = int(
            getattr(settings, "features_statement_timeout_ms", settings.statement_timeout_ms)
        )
        self._pools: dict[str, asyncpg.Pool] = {}
        self._round_robin = itertools.count()
        self._lock = asyncio.Lock()

    async def _pool(self, dsn: str) -> asyncpg.Pool:
        pool = self._pools.get(dsn)
        if pool is not None:
            return pool
        async with self._lock:
            pool = self._pools.get(dsn)
            if pool is None:
                pool = await asyncpg.create_pool(
                    dsn,
                    min_size=0,
                    max_size=self.settings.pool_max_size,
                    timeout=self.settings.connect_timeout_s,
                    max_inactive_connection_lifetime=300,
                    reset=_no_reset,  # no RESET ALL round trip per request
                    server_settings={
                        "application_name": "gis_platform_features",
                        "statement_timeout": str(self.timeout_ms),
                        "jit": "off",
                        "plan_cache_mode": "force_custom_plan",
                        "max_parallel_workers_per_gather": "0",
                    },
                )
                self._pools[dsn] = pool
            return pool

    def _read_dsn(self) -> str:
        replicas = [r for r in getattr(self.database, "replicas", ()) if getattr(r, "healthy", False)]
        if not replicas:
            return self.dsn
        return str(replicas[next(self._round_robin) % len(replicas)].dsn)

    async def _acquire(self, dsn: str) -> tuple[asyncpg.Pool, asyncpg.Connection]:
        pool = await self._pool(dsn)
        # asyncio.timeout, not acquire(timeout=…): that one wraps the wait in a task (a loop turn)
        async with asyncio.timeout(self.settings.pool_timeout_s):  # connecting: connect_timeout_s
            return pool, await pool.acquire()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one request; connection failures become a 503 problem."""
        dsn = self._read_dsn()
        try:
            try:
                pool, conn = await self._acquire(dsn)
            except CONNECT_ERRORS:
                if dsn == self.dsn:
                    raise
                # a replica dead since its last health check: the primary serves this read
                self._replica_failed(dsn)
                dsn = self.dsn
                pool, conn = await self._acquire(dsn)
        except CONNECT_ERRORS as exc:
            logger.warning("features cannot reach the database: %s", type(exc).__name__)
            raise DatabaseUnavailable("The database is not reachable; retry in a few seconds.") from exc
        changed = False
        try:
            wanted = STATEMENT_TIMEOUT_MS.get()
            if wanted is not None and wanted != self.timeout_ms:  # a download: undone before release
                changed = True
                await conn.execute(SET_STATEMENT_TIMEOUT_SQL, str(wanted))
            yield conn
        except LOST_ERRORS as exc:
            logger.warning("features database connection lost: %s", type(exc).__name__)
            if dsn != self.dsn:
                self._replica_failed(dsn)
            raise DatabaseUnavailable("The database connection was lost; retry in a few seconds.") from exc
        finally:
            if changed:
                await _restore(conn)
            await pool.release(conn)

    def _replica_failed(self, dsn: str) -> None:
        """Take a replica out of the read rotation until its next health check passes."""
        for replica in getattr(self.database, "replicas", ()):
            if replica.dsn == dsn and replica.healthy:
                logger.warning("features: a replica is unreachable; reading from the primary")
                replica.healthy = False

    async def close(self) -> None:
        """Close every pool."""
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.close()


async def _restore(conn: asyncpg.Connection) -> None:
    """Back to the startup settings; a connection that cannot be reset is closed (the pool replaces it)."""
    try:
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")
        await conn.execute("RESET ALL")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        logger.debug("closing a features connection that could not be reset: %s", type(exc).__name__)
        conn.terminate()
