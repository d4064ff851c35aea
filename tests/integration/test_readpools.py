"""Kept read connections (db/readpools.py): reused after clean requests, handed back to asyncpg otherwise."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from gis_platform.db import readpools
from gis_platform.features.connections import FeatureConnections
from gis_platform.settings import Settings
from gis_platform.tiles.connections import TileConnections

pytestmark = pytest.mark.db

PID = "SELECT pg_backend_pid()"


def tiles(db_url: str) -> TileConnections:
    return TileConnections(db_url, Settings().db, max_size=2)


def pool_of(pools: Any) -> asyncpg.Pool:
    (pool,) = pools._pools.values()
    return pool


async def settle() -> None:
    """Let the background releases run."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_a_clean_request_keeps_its_connection_for_the_next(db_url: str) -> None:
    pools = tiles(db_url)
    try:
        first = await pools.fetchval(PID, ())
        assert await pools.fetchval(PID, ()) == first
        pool = pool_of(pools)
        assert pool.get_size() == 1 and pool.get_idle_size() == 0  # kept by us, not idle in asyncpg's pool
    finally:
        await asyncio.wait_for(pools.close(), 10)  # kept connections do not hold the close up
    assert pool.is_closing()


async def test_an_error_hands_the_connection_back_to_asyncpg(db_url: str) -> None:
    pools = tiles(db_url)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await pools.fetchval("SELECT 1 / 0", ())
        await settle()
        pool = pool_of(pools)
        assert pool.get_idle_size() == 1 and not pools._kept.get(db_url)
        assert await pools.fetchval("SELECT 2", ()) == 2
    finally:
        await pools.close()


async def test_connections_go_back_to_the_pool_after_keep_s(db_url: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(readpools, "KEEP_S", 0.0)
    pools = tiles(db_url)
    try:
        await pools.fetchval(PID, ())
        await settle()
        assert pool_of(pools).get_idle_size() == 1 and not pools._kept.get(db_url)
    finally:
        await pools.close()


async def test_a_kept_connection_that_died_is_replaced(db_url: str) -> None:
    pools = tiles(db_url)
    admin = await asyncpg.connect(db_url)
    try:
        first = await pools.fetchval(PID, ())
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        await asyncio.sleep(0.5)  # the event loop hears of the closed socket; asyncpg's pool takes it back
        second = await pools.fetchval(PID, ())
        assert second != first
    finally:
        await admin.close()
        await pools.close()


async def test_a_feature_connection_left_in_a_transaction_is_not_kept(db_url: str) -> None:
    pools = FeatureConnections(db_url, Settings().db)
    try:
        async with pools.connection() as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TEMP TABLE left_behind (x int)")
        await settle()
        assert not pools._kept.get(db_url)
        async with pools.connection() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('pg_temp.left_behind')") is None  # rolled back
        assert len(pools._kept[db_url]) == 1  # that one ended cleanly
    finally:
        await pools.close()


async def test_requests_waiting_on_a_full_pool_get_the_next_free_connection(db_url: str) -> None:
    """With every connection busy, a request that ends releases its connection to the waiters."""
    settings = Settings().db.model_copy(update={"pool_timeout_s": 2.0})
    pools = TileConnections(db_url, settings, max_size=2)
    try:
        sleeps = [pools.fetchval("SELECT pg_sleep(0.3)::text || pg_backend_pid()", ()) for _ in range(6)]
        answers = await asyncio.wait_for(asyncio.gather(*sleeps), 10)  # three rounds of two, no 503
        assert len(answers) == 6 and len(set(answers)) <= 2
        assert len(pools._kept[db_url]) == 2 and not pools._waiting[db_url]
    finally:
        await pools.close()
