"""Fixtures of the tile tests: layers loaded through the real ingest, served by the real app."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import geopandas as gpd
import httpx
import mapbox_vector_tile
import numpy as np
import psycopg
import pytest
import shapely

from gis_platform.settings import TileSettings
from gis_platform.tiles.lifespan import install_tiles
from gis_platform.tiles.service import TileService
from tests.conftest import LiveServer

PROBLEM = "application/problem+json"
CENTRE = (106.7, 10.78)
_names = itertools.count()


@pytest.fixture(scope="module")
def pg(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection for the ingest pipeline."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


def set_tile_settings(conn: psycopg.Connection[Any], slug: str, settings: dict[str, Any]) -> None:
    """Write ``catalogue.layer.tile_settings`` as the manifest sync would."""
    conn.execute(
        "UPDATE catalogue.layer SET tile_settings = %s::jsonb WHERE slug = %s",
        (psycopg.types.json.Jsonb(settings), slug),
    )


class TileServer:
    """A live app with the tile routes installed, and an HTTP client on it."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.client = httpx.Client(base_url=live.url, timeout=60)

    @property
    def service(self) -> TileService:
        app: Any = self.live.server.config.app
        service: TileService = app.state.tiles
        return service

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)


@pytest.fixture(scope="module")
def tile_server(
    make_server: Callable[..., LiveServer], db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., TileServer]:
    """Factory: ``tile_server(redis_url=None, **tile_settings)`` → a started app serving tiles."""

    def start(redis_url: str | None = None, **tile_settings: Any) -> TileServer:
        tile_settings.setdefault("cache_dir", tmp_path_factory.mktemp(f"tiles{next(_names)}") / "cache")
        tiles = TileSettings(**tile_settings)
        live = make_server(db_url, app_hook=install_tiles, tiles=tiles, REDIS_URL=redis_url or "")
        return TileServer(live)

    return start


def decode(content: bytes) -> dict[str, Any]:
    """Decode an MVT (uncompressed) into ``{layer: {features: [...]}}``."""
    decoded: dict[str, Any] = mapbox_vector_tile.decode(content)
    return decoded


def line_frame(
    n: int, seed: int = 3, bbox: tuple[float, float, float, float] = (106.6, 10.7, 106.8, 10.85)
) -> gpd.GeoDataFrame:
    """``n`` short random lines."""
    rng = np.random.default_rng(seed)
    xs = rng.uniform(bbox[0], bbox[2], n)
    ys = rng.uniform(bbox[1], bbox[3], n)
    dx = rng.uniform(-0.002, 0.002, n)
    dy = rng.uniform(-0.002, 0.002, n)
    coords = np.stack([np.stack([xs, ys], axis=1), np.stack([xs + dx, ys + dy], axis=1)], axis=1)
    return gpd.GeoDataFrame(
        {"name": [f"Đường {i}" for i in range(n)], "lanes": rng.integers(1, 6, n)},
        geometry=shapely.linestrings(coords),
        crs=4326,
    )


def square_frame(
    cells: int = 4, bbox: tuple[float, float, float, float] = (106.6, 10.7, 106.8, 10.85)
) -> gpd.GeoDataFrame:
    """A grid of ``cells`` by ``cells`` square polygons."""
    w = (bbox[2] - bbox[0]) / cells
    h = (bbox[3] - bbox[1]) / cells
    boxes = [shapely.box(bbox[0] + i * w, bbox[1] + j * h, bbox[0] + (i + 1) * w, bbox[1] + (j + 1) * h)
             for i in range(cells) for j in range(cells)]  # fmt: skip
    return gpd.GeoDataFrame(
        {"code": [f"W{i:02d}" for i in range(len(boxes))], "population": np.arange(len(boxes)) * 1000},
        geometry=boxes,
        crs=4326,
    )


def assert_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    body: dict[str, Any] = resp.json()
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == status
    return body
