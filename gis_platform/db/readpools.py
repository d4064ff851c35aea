"""Read pools of one request kind (tiles, features): lazily created per DSN, replica first, no reset round trip.

The API's pool resets every connection it takes back (``RESET ALL; UNLISTEN *; …``: one more round trip per
request). The tile and feature statements leave no session state behind, so their pools skip that reset and
start their sessions with the settings the statements want. Reads go to a healthy replica of the app's
:class:`~gis_platform.db.pool.Database` when it has one (round robin), else to the primary; a replica that
refuses a connection between two health checks is taken out and the primary serves the read.

**Kept connections.** A request that ends cleanly (no error, no open transaction) hands its connection
back with :meth:`ReadPools.keep`: it stays checked out of asyncpg's pool, on a per-DSN stack the next
request pops without awaiting. asyncpg's acquire and release (queue, holder, proxy, inactivity timers,
a task to release off the answer's path) cost about 50-80 µs per request on a 2-core machine, as much as
everything else our server adds to a 4 ms tile. Connections go back to asyncpg's pool (which then applies
its own lifetime rules) after :data:`KEEP_S` seconds, after an error, and when the pools close. This
small stack is written here because asyncpg's pool has no cheaper path and no other pool wraps asyncpg.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import asyncpg

from gis_platform.db.pool import CONNECT_ERRORS
from gis_platform.errors import DatabaseUnavailable
from gis_platform.settings import DatabaseSettings

logger = logging.getLogger(__name__)

#: How long a connection stays on the kept stack before it goes back through asyncpg's pool.
KEEP_S = 60.0


def _alive(conn: asyncpg.Connection) -> bool:
    """Whether a checked-out connection is still open (asyncpg's pool takes back one that died by itself)."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # "released back to the pool": the socket closed while we kept it
        return False


async def _no_reset(_conn: asyncpg.Connection) -> None:
    """Nothing to reset on release (asyncpg still rolls back an open transaction and drops listeners)."""


class ReadPools:
    """Pools for one kind of read (``name``), each session started with ``server_settings``."""

    def __init__(
        self, dsn: str, settings: DatabaseSettings, *, name: str, max_size: int, server_settings: dict[str, str],
        database: Any = None,
    ) -> None:  # fmt: skip
        self.dsn = dsn
        self.settings = settings
        self.name = name
        self.max_size = max_size
        self.server_settings = {"application_name": f"gis_platform_{name}", "jit": "off", **server_settings}
        self.database = database  # the app's Database: its replicas and their health
        self._pools: dict[str, asyncpg.Pool] = {}
        self._round_robin = itertools.count()
        self._lock = asyncio.Lock()
        # per DSN: (pool, connection), the most recently kept last
        self._kept: dict[str, list[tuple[asyncpg.Pool, asyncpg.Connection]]] = {}
        self._taken_at: dict[int, float] = {}  # id(connection) -> when it left asyncpg's pool
        self._releasing: set[asyncio.Future[None]] = set()
        self._waiting: dict[str, int] = {}  # per DSN: requests waiting on asyncpg's pool (they come first)
        self._closing = False

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
                    max_size=self.max_size,
                    reset=_no_reset,
                    timeout=self.settings.connect_timeout_s,
                    max_inactive_connection_lifetime=300,
                    server_settings=self.server_settings,
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
        for pool, conn in self._kept.pop(dsn, []):
            self.release_soon(pool, conn)
        for replica in getattr(self.database, "replicas", ()):
            if replica.dsn == dsn and replica.healthy:
                logger.warning("%s: a replica is unreachable; reading from the primary", self.name)
                replica.healthy = False

    async def _acquire(self, dsn: str) -> tuple[asyncpg.Pool, asyncpg.Connection]:
        pool = await self._pool(dsn)
        self._waiting[dsn] = self._waiting.get(dsn, 0) + 1
        try:
            # asyncio.timeout, not acquire(timeout=…): that one wraps the wait in a task (a loop turn)
            async with asyncio.timeout(self.settings.pool_timeout_s):  # connecting: connect_timeout_s
                return pool, await pool.acquire()
        finally:
            self._waiting[dsn] -= 1

    async def checkout(self, *, primary: bool = False) -> tuple[str, asyncpg.Pool, asyncpg.Connection]:
        """A connection (a replica's unless ``primary``) with its DSN and pool; failures become a 503 problem.

        Hand it back with :meth:`keep` after a clean request, else with :meth:`release` or :meth:`release_soon`.
        """
        dsn = self.read_dsn(primary=primary)
        found = self.kept(dsn)
        return found if found is not None else await self.acquire(dsn)

    def kept(self, dsn: str) -> tuple[str, asyncpg.Pool, asyncpg.Connection] | None:
        """A kept connection to ``dsn``, if one is open (no await: the hot path of :meth:`checkout`)."""
        kept = self._kept.get(dsn)
        while kept:
            pool, conn = kept.pop()
            if _alive(conn):
                return dsn, pool, conn
            self.release_soon(pool, conn)  # lost while it waited: asyncpg's pool replaces it
        return None

    def read_dsn(self, *, primary: bool = False) -> str:
        """The DSN the next read goes to: a healthy replica's (round robin) unless ``primary``."""
        return self.dsn if primary else self._read_dsn()

    async def acquire(self, dsn: str) -> tuple[str, asyncpg.Pool, asyncpg.Connection]:
        """A connection from asyncpg's pool for ``dsn`` (the primary's when a replica refuses)."""
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
            logger.warning("%s cannot reach the database: %s", self.name, type(exc).__name__)
            raise DatabaseUnavailable("The database is not reachable; retry in a few seconds.") from exc
        self._taken_at[id(conn)] = time.monotonic()
        return dsn, pool, conn

    def keep(self, dsn: str, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
        """Hand back a connection after a request that ended cleanly: kept for the next one, or released.

        Released when requests wait on asyncpg's pool (all connections busy): they would wait in vain while
        we keep one.
        """
        now = time.monotonic()
        taken = self._taken_at.get(id(conn), 0.0)
        if (
            self._closing or self._waiting.get(dsn) or not _alive(conn) or conn.is_in_transaction()
            or now - taken > KEEP_S
        ):  # fmt: skip
            self.release_soon(pool, conn)
            return
        self._kept.setdefault(dsn, []).append((pool, conn))

    async def release(self, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
        """Give a connection back to asyncpg's pool (which rolls back, or replaces a broken one)."""
        self._taken_at.pop(id(conn), None)
        await pool.release(conn)

    def release_soon(self, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
        """:meth:`release` in the background (off the answer's path)."""
        task = asyncio.ensure_future(self.release(pool, conn))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    def lost(self, dsn: str, exc: BaseException) -> DatabaseUnavailable:
        """The 503 problem for a connection lost mid-request (a replica's is taken out of the rotation)."""
        logger.warning("%s database connection lost: %s", self.name, type(exc).__name__)
        if dsn != self.dsn:
            self._replica_failed(dsn)
        return DatabaseUnavailable("The database connection was lost; retry in a few seconds.")

    async def close_pools(self) -> None:
        """Release the kept connections, finish the releases under way, close every pool."""
        self._closing = True
        for kept in self._kept.values():
            for pool, conn in kept:
                self.release_soon(pool, conn)
        self._kept.clear()
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.close()


__all__ = ["ReadPools"]
