"""The API's asyncpg pools: the primary, and optional read replicas; created in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import asyncpg

from gis_platform.db.urls import redact
from gis_platform.errors import DatabaseUnavailable
from gis_platform.settings import DatabaseSettings

logger = logging.getLogger(__name__)

#: The statement timeout (ms) of the current request's kind, set by the web limits middleware; connections
#: taken in that context get it when it differs from the pool's (one ``set_config`` round trip; the pool's
#: ``RESET ALL`` on release restores the pool's value).
STATEMENT_TIMEOUT_MS: ContextVar[int | None] = ContextVar("statement_timeout_ms", default=None)
SET_STATEMENT_TIMEOUT_SQL = "SELECT set_config('statement_timeout', $1, false)"

CONNECT_ERRORS = (
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
LOST_ERRORS = (
    ConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)

# Replay lag: zero when everything received has been replayed (an idle primary is not "lag");
# otherwise the age of the last replayed commit, unknown (1e9) when nothing was replayed yet. After an
# idle spell that age is old at once, so the monitor also bounds the lag by the time since it last saw
# the replica caught up (it has lost nothing committed before then).
REPLICA_LAG_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 1e9) END
"""


def _server_settings(settings: DatabaseSettings) -> dict[str, str]:
    return {
        "application_name": "gis_platform",
        "statement_timeout": str(settings.statement_timeout_ms),
        # JIT compilation costs more than it saves on the short statements of tiles and pages.
        "jit": "off",
    }


class _Replica:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.pool: asyncpg.Pool | None = None
        self.healthy = False
        self.lag_s: float | None = None
        self.caught_up_at = float("-inf")  # monotonic time of the last check that found no lag
        self.reads = 0  # connections handed out for reads (this process)


class Database:
    """Lazily connecting pools; connection failures surface as :class:`DatabaseUnavailable`.

    Pools start with no connections, so the app starts while the database is down and recovers by
    itself when it returns (asyncpg drops broken connections when they are released). Reads that may
    be slightly stale go to a healthy replica (round robin) when replicas are configured; a replica
    that fails its health check or lags more than ``replica_max_lag_s`` is skipped, and reads fall
    back to the primary.
    """

    def __init__(self, dsn: str, settings: DatabaseSettings, replica_dsns: Sequence[str] = ()) -> None:
        self.dsn = dsn
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self.replicas = [_Replica(d) for d in replica_dsns]
        self._round_robin = itertools.cycle(range(max(len(self.replicas), 1)))
        self._monitor: asyncio.Task[None] | None = None

    async def _create_pool(self, dsn: str, max_size: int) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=max_size,
            timeout=self.settings.connect_timeout_s,
            max_inactive_connection_lifetime=300,
            server_settings=_server_settings(self.settings),
        )

    async def open(self) -> None:
        """Create the pools (they connect on first use) and start watching replicas."""
        self._pool = await self._create_pool(self.dsn, self.settings.pool_max_size)
        for replica in self.replicas:
            replica.pool = await self._create_pool(replica.dsn, self.settings.pool_max_size)
        if self.replicas:
            await self.check_replicas()
            self._monitor = asyncio.create_task(self._watch_replicas(), name="replica-monitor")

    async def close(self) -> None:
        """Close every pool."""
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        for pool in [self._pool, *(r.pool for r in self.replicas)]:
            if pool is not None:
                await pool.close()
        self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The primary's pool (open)."""
        if self._pool is None:
            raise RuntimeError("database pool is not open")
        return self._pool

    async def check_replicas(self) -> None:
        """Health-check every replica once (connect, in recovery, lag within bound)."""
        for replica in self.replicas:
            assert replica.pool is not None  # noqa: S101 - opened in open()
            try:
                async with replica.pool.acquire(timeout=self.settings.connect_timeout_s) as conn:
                    row = await conn.fetchrow(REPLICA_LAG_SQL, timeout=self.settings.connect_timeout_s)
                in_recovery, lag, now = bool(row[0]), float(row[1]), time.monotonic()
                if lag == 0:
                    replica.caught_up_at = now
                lag = min(lag, now - replica.caught_up_at)
                replica.lag_s = lag
                healthy = in_recovery and lag <= self.settings.replica_max_lag_s
            except (*CONNECT_ERRORS, asyncpg.PostgresError) as exc:
                logger.debug("replica %s failed its check: %s", redact(replica.dsn), type(exc).__name__)
                healthy = False
            if healthy != replica.healthy:
                logger.warning("replica %s is now %s", redact(replica.dsn), "healthy" if healthy else "out")
            replica.healthy = healthy

    async def _watch_replicas(self) -> None:
        while True:
            await asyncio.sleep(self.settings.replica_check_interval_s)
            try:
                await self.check_replicas()
            except Exception:  # the monitor must outlive any one failed round
                logger.exception("replica health check failed")

    def replica_status(self) -> list[dict[str, Any]]:
        """Health of each replica, for /health."""
        return [
            {"url": redact(r.dsn), "healthy": r.healthy, "lag_s": r.lag_s, "reads": r.reads}
            for r in self.replicas
        ]

    def _read_replica(self) -> _Replica | None:
        for _ in range(len(self.replicas)):
            replica = self.replicas[next(self._round_robin)]
            if replica.healthy and replica.pool is not None:
                return replica
        return None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A primary connection (writes, and reads that must see their own writes)."""
        async with self._acquire(self.pool) as conn:
            yield conn

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for reads that may lag a little: a healthy replica, else the primary."""
        replica = self._read_replica()
        if replica is not None and replica.pool is not None:
            try:
                conn = await replica.pool.acquire(timeout=self.settings.connect_timeout_s)
            except CONNECT_ERRORS:
                # dead since its last check: take it out now and serve this read from the primary
                logger.warning("replica %s unreachable; reading from the primary", redact(replica.dsn))
                replica.healthy = False
            else:
                replica.reads += 1
                try:
                    await self._apply_timeout(conn)
                    yield conn
                except LOST_ERRORS as exc:
                    replica.healthy = False
                    raise DatabaseUnavailable("The replica connection was lost; retry.") from exc
                finally:
                    await replica.pool.release(conn)
                return
        async with self._acquire(self.pool) as conn:
            yield conn

    async def _apply_timeout(self, conn: asyncpg.Connection) -> None:
        wanted = STATEMENT_TIMEOUT_MS.get()
        if wanted is not None and wanted != self.settings.statement_timeout_ms:
            await conn.execute(SET_STATEMENT_TIMEOUT_SQL, str(wanted))

    @asynccontextmanager
    async def _acquire(self, pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
        try:
            # a busy pool queues requests (pool_timeout_s); a new connection still has connect_timeout_s
            conn = await pool.acquire(timeout=self.settings.pool_timeout_s)
        except CONNECT_ERRORS as exc:
            logger.warning("cannot reach the database: %s", type(exc).__name__)
            raise DatabaseUnavailable("The database is not reachable; retry in a few seconds.") from exc
        try:
            await self._apply_timeout(conn)
            yield conn
        except LOST_ERRORS as exc:
            logger.warning("database connection lost: %s", type(exc).__name__)
            raise DatabaseUnavailable("The database connection was lost; retry in a few seconds.") from exc
        finally:
            await pool.release(conn)
