"""Connections for tile statements: single read-only ``SELECT``s on :class:`~gis_platform.db.readpools.ReadPools`."""

from __future__ import annotations

from typing import Any

from gis_platform.db.pool import LOST_ERRORS
from gis_platform.db.readpools import ReadPools
from gis_platform.settings import DatabaseSettings


class TileConnections(ReadPools):
    """Pools (created lazily, per DSN) for tile statements."""

    def __init__(self, dsn: str, settings: DatabaseSettings, *, max_size: int, database: Any = None) -> None:
        super().__init__(
            dsn, settings, name="tiles", max_size=max_size, database=database,
            server_settings={"statement_timeout": str(settings.tiles_statement_timeout_ms)},
        )  # fmt: skip

    async def fetchval(self, sql: str, args: tuple[Any, ...], *, primary: bool = False) -> Any:
        """Run one tile statement on a read connection (a replica's unless ``primary``); its value.

        Connection failures become a 503 problem. (A plain coroutine rather than a context manager: this
        is the hot path of every uncached tile, and a generator-based context costs a few more µs.)
        """
        dsn = self.read_dsn(primary=primary)
        found = self.kept(dsn)  # no coroutine on the hot path
        dsn, pool, conn = found if found is not None else await self.acquire(dsn)
        try:
            value = await conn.fetchval(sql, *args)
        except LOST_ERRORS as exc:
            self.release_soon(pool, conn)
            raise self.lost(dsn, exc) from exc
        except BaseException:
            # after an error (a timeout, a cancelled request) asyncpg's pool settles the connection;
            # released after the answer: the release costs a turn of the event loop
            self.release_soon(pool, conn)
            raise
        self.keep(dsn, pool, conn)
        return value

    async def close(self) -> None:
        """Release the connections and close every pool."""
        await self.close_pools()
