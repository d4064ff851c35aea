"""Cache tiers: single flight, a disk that cannot be written, Redis shared by two app instances."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from gis_platform.ingest.service import import_frame
from gis_platform.tiles.rules import lonlat_to_tile
from tests.factories import ensure_layer, point_frame
from tests.tiles.conftest import CENTRE, TileServer, decode

pytestmark = pytest.mark.db

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def layer(pg: psycopg.Connection[Any]) -> str:
    ensure_layer(pg, "c-points", "Point")
    import_frame(
        pg, "c-points", point_frame(20_000, bbox=(106.65, 10.73, 106.75, 10.83)), author="test", publish=True
    )
    return "c-points"


def tile_path(z: int) -> str:
    x, y = lonlat_to_tile(*CENTRE, z)
    return f"/tiles/c-points/{z}/{x}/{y}.mvt"


def test_concurrent_misses_run_the_sql_once(layer: str, tile_server: Any) -> None:
    server: TileServer = tile_server()
    assert server.get(tile_path(15)).status_code in (200, 204)  # resolves the layer once
    before = server.service.stats.sql_executions

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.live.url, timeout=60) as client:
            return await asyncio.gather(*(client.get(tile_path(11)) for _ in range(24)))

    responses = asyncio.run(burst())
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert server.service.stats.sql_executions - before == 1
    # and once cached, no more SQL at all
    assert server.get(tile_path(11)).status_code == 200
    assert server.service.stats.sql_executions - before == 1


def test_unwritable_disk_degrades_to_no_disk_cache(
    layer: str, tile_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    caplog.set_level(logging.WARNING, logger="gis_platform.tiles")
    server: TileServer = tile_server(cache_dir=blocker / "cache")  # cannot be created: its parent is a file
    for z in (12, 13):
        resp = server.get(tile_path(z))
        assert resp.status_code == 200 and decode(resp.content)["c-points"]["features"]
    assert not server.service.cache.disk.enabled  # type: ignore[union-attr]
    assert any("disk caching is off" in r.getMessage() for r in caplog.records)
    assert server.get("/health").status_code == 200


def test_disk_tier_serves_a_restarted_app(layer: str, tile_server: Any, tmp_path: Path) -> None:
    first: TileServer = tile_server(cache_dir=tmp_path / "cache")
    content = first.get(tile_path(14)).content
    deadline = time.monotonic() + 5
    while not list((tmp_path / "cache").rglob("*.mvt.gz")):
        assert time.monotonic() < deadline, "no tile written to disk"
        time.sleep(0.02)
    second: TileServer = tile_server(cache_dir=tmp_path / "cache")
    resp = second.get(tile_path(14))
    assert resp.status_code == 200 and resp.content == content
    assert resp.headers["content-encoding"] == "gzip"
    assert second.service.stats.disk_hits == 1 and second.service.stats.sql_executions == 0


def test_redis_tier_is_shared_between_two_apps(layer: str, tile_server: Any) -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    one: TileServer = tile_server(redis_url=REDIS_URL, redis_prefix=prefix)
    two: TileServer = tile_server(redis_url=REDIS_URL, redis_prefix=prefix)
    try:
        content = one.get(tile_path(13)).content
        deadline = time.monotonic() + 5
        while not list(client.scan_iter(match=f"{prefix}*")):
            assert time.monotonic() < deadline, "nothing written to Redis"
            time.sleep(0.02)
        resp = two.get(tile_path(13))
        assert resp.status_code == 200 and resp.content == content
        assert two.service.stats.redis_hits == 1 and two.service.stats.sql_executions == 0
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_unreachable_redis_is_skipped(layer: str, tile_server: Any) -> None:
    server: TileServer = tile_server(redis_url="redis://127.0.0.1:1/0")
    assert server.get(tile_path(12)).status_code == 200
    assert server.service.cache.redis is not None and not server.service.cache.redis.available
