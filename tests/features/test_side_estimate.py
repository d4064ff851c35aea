"""numberMatched's planner estimate on a second connection while the page is read (features/service.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from gis_platform.features import service
from gis_platform.features.connections import FeatureConnections
from gis_platform.features.params import items_query
from gis_platform.settings import Settings
from tests.features.conftest import POINTS

pytestmark = pytest.mark.db

PAGES = [
    [("bbox", "106.0,10.0,107.5,11.5"), ("limit", "5")],  # more than one page: estimate (then an exact count)
    [("filter", "value > 100"), ("limit", "7"), ("offset", "3")],
    [("bbox", "0,0,1,1"), ("limit", "5")],  # nothing matches: no estimate needed
    [("limit", "5")],  # not filtered: the layer's count
]


async def matched(conn: asyncpg.Connection, given: list[tuple[str, str]], side: Any) -> tuple[int, bool, int]:
    layer = await service.get_collection(conn, POINTS)
    query = await items_query(given, layer)
    rows = await service.open_rows(conn, layer, query, "geojson", side=side)
    returned = sum([len(batch) async for batch in rows.batches()])
    count, estimated = await rows.number_matched()
    return count, estimated, returned


async def test_the_estimate_aside_gives_the_same_numbers(layers: str) -> None:
    pools = FeatureConnections(layers, Settings().db)
    try:
        async with pools.connection() as conn:
            for given in PAGES:
                alone = await matched(conn, given, None)
                assert pools.spare()
                aside = await matched(conn, given, pools.connection)
                assert aside == alone, given
            assert (await matched(conn, PAGES[0], None))[0] > 5  # the first page has more
        assert len(pools._kept[layers]) == 2  # the request's connection and the one the estimates used
    finally:
        await pools.close()


async def test_a_failing_side_connection_falls_back_to_the_request_s_own(layers: str) -> None:
    used: list[str] = []

    @asynccontextmanager
    async def broken() -> AsyncIterator[asyncpg.Connection]:
        used.append("side")
        raise asyncpg.ConnectionDoesNotExistError("gone")
        yield  # pragma: no cover

    conn = await asyncpg.connect(layers)
    try:
        assert await matched(conn, PAGES[0], broken) == await matched(conn, PAGES[0], None)
        assert used == ["side"]
    finally:
        await conn.close()


async def test_no_spare_connection_while_requests_wait(layers: str) -> None:
    pools = FeatureConnections(layers, Settings().db.model_copy(update={"pool_max_size": 1}))
    try:
        async with pools.connection():
            assert not pools.spare()  # the one connection is this request's
        assert pools.spare()  # kept for the next request
    finally:
        await pools.close()
