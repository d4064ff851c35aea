"""Connections for tile statements: single read-only ``SELECT``s on :class:`~gis_platform.db.readpools.ReadPools`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

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
        self._releasing: set[asyncio.Future[None]] = set()

    @asynccontextmanager
    async def connection(self, *, primary: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one tile statement; connection failures become a 503 problem."""
        dsn, pool, conn = await self.checkout(primary=primary)
        try:
            yield conn
        except LOST_ERRORS as exc:
            raise self.lost(dsn, exc) from exc
        finally:
            # returned to the pool after the answer: the release costs a turn of the event loop
            task = asyncio.ensure_future(pool.release(conn))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)

    async def close(self) -> None:
        """Finish the releases under way and close every pool."""
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)
        await self.close_pools()
