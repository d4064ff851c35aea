"""Connections of the features routes: pools whose sessions start with the page statements' settings.

Page statements want ``plan_cache_mode = force_custom_plan`` (a generic plan cannot see how selective
a bbox is: 250 ms instead of 5 ms on a 1M-point layer), ``max_parallel_workers_per_gather = 0``
(workers cost more to start than a page takes), JIT off and the features statement timeout. Given as
startup settings of the pool's connections they cost no round trip per request. Nothing else changes a
session (cursors live in transactions, which asyncpg rolls back on release), so release skips the
``RESET ALL`` round trip; a request kind with another statement timeout (downloads) sets its own and
resets it before release. Replicas and failures: :class:`~gis_platform.db.readpools.ReadPools`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from gis_platform.db.pool import LOST_ERRORS, SET_STATEMENT_TIMEOUT_SQL, STATEMENT_TIMEOUT_MS
from gis_platform.db.readpools import ReadPools
from gis_platform.settings import DatabaseSettings

logger = logging.getLogger(__name__)


class FeatureConnections(ReadPools):
    """Pools (created lazily, per DSN) for the features routes."""

    def __init__(self, dsn: str, settings: DatabaseSettings, *, database: Any = None) -> None:
        self.timeout_ms = int(settings.features_statement_timeout_ms)
        super().__init__(
            dsn, settings, name="features", max_size=settings.pool_max_size, database=database,
            server_settings={"statement_timeout": str(self.timeout_ms), "plan_cache_mode": "force_custom_plan",
                             "max_parallel_workers_per_gather": "0"},
        )  # fmt: skip

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one request; connection failures become a 503 problem."""
        dsn, pool, conn = await self.checkout()
        changed = False
        clean = False
        try:
            wanted = STATEMENT_TIMEOUT_MS.get()
            if wanted is not None and wanted != self.timeout_ms:  # a download: undone before release
                changed = True
                await conn.execute(SET_STATEMENT_TIMEOUT_SQL, str(wanted))
            yield conn
            clean = not changed
        except LOST_ERRORS as exc:
            raise self.lost(dsn, exc) from exc
        finally:
            if clean:
                self.keep(dsn, pool, conn)  # kept for the next request (no error, nothing to undo)
            else:
                if changed:
                    await _restore(conn)
                await self.release(pool, conn)

    def spare(self) -> bool:
        """Whether a second connection can be had now, without waiting for another request to end.

        True when one is kept, idle in asyncpg's pool, or may still be opened (the pool is not full), and no
        request waits; under load (every connection busy) a request makes do with its own.
        """
        if any(self._waiting.values()):
            return False
        if any(self._kept.values()):
            return True
        pools = list(self._pools.values())
        return bool(pools) and all(p.get_idle_size() > 0 or p.get_size() < self.max_size for p in pools)

    async def close(self) -> None:
        """Close every pool."""
        await self.close_pools()


async def _restore(conn: asyncpg.Connection) -> None:
    """Back to the startup settings; a connection that cannot be reset is closed (the pool replaces it)."""
    try:
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")
        await conn.execute("RESET ALL")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        logger.debug("closing a features connection that could not be reset: %s", type(exc).__name__)
        conn.terminate()
