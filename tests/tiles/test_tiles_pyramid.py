"""The point pyramid built at publish: exact counts, the same tiles as counting per request, versions."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any

import asyncpg
import psycopg
import pytest

from gis_platform.ingest import queries as ingest_queries
from gis_platform.ingest.loader import publish_version, rollback_to
from gis_platform.ingest.service import import_frame
from gis_platform.settings import TileSettings
from gis_platform.tiles import queries
from gis_platform.tiles.catalog import layers_from_rows
from gis_platform.tiles.models import LayerVersion, Mode, Pyramid, TileLayer
from gis_platform.tiles.pyramid import spec_for
from gis_platform.tiles.queries import LayerPart, build_tile_query
from gis_platform.tiles.rules import ORIGIN_M, lonlat_to_tile, rule_for_zoom, tile_size_m, tiles_in_bbox
from tests.factories import ensure_layer, point_frame
from tests.tiles.conftest import TileServer, decode, set_tile_settings

pytestmark = pytest.mark.db

SETTINGS = TileSettings()
BBOX = (106.6, 10.7, 106.8, 10.85)
N = 40_000
RULES = {"minzoom": 6, "maxzoom": 16, "cluster_below_zoom": 9, "thin_points_below_zoom": 12}
SMALL = (106.700, 10.770, 106.705, 10.775)  # inside one tile at every pyramid zoom


def _table(pg: psycopg.Connection[Any], slug: str, version: int) -> str:
    row = pg.execute(
        "SELECT v.table_name FROM catalogue.layer l JOIN catalogue.layer_version v ON v.layer_id = l.id "
        "WHERE l.slug = %s AND v.version = %s",
        (slug, version),
    ).fetchone()
    assert row is not None
    return str(row[0])


def _exists(pg: psycopg.Connection[Any], table: str) -> bool:
    row = pg.execute("SELECT to_regclass(%s) IS NOT NULL", (f"layerdata.{table}_thin",)).fetchone()
    return bool(row and row[0])


def _load(db_url: str) -> dict[str, TileLayer]:
    async def read() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(db_url)
        try:
            return await queries.select_catalogue(conn)
        finally:
            await conn.close()

    return layers_from_rows(asyncio.run(read()), SETTINGS)


def _tile(
    db_url: str, layer: TileLayer, version: LayerVersion, z: int, x: int, y: int
) -> list[dict[str, Any]]:
    """The decoded features of one tile, composed for ``version`` as the server does."""
    rule = rule_for_zoom(layer.rules, version.geometry_type, tuple(c.name for c in version.columns), z)
    part = LayerPart(name=layer.slug, version=version, rule=rule, buffer=layer.rules.buffer)
    query = build_tile_query(
        [part], z, grid_cells=SETTINGS.grid_cells, max_features=SETTINGS.max_features_per_tile
    )

    async def run() -> bytes | None:
        conn = await asyncpg.connect(db_url)
        try:
            value: bytes | None = await conn.fetchval(query.sql, *queries.tile_args(query, z, x, y))
            return value
        finally:
            await conn.close()

    data = asyncio.run(run())
    features: list[dict[str, Any]] = decode(data).get(layer.slug, {}).get("features", []) if data else []
    return features


def _on_edge(feature: tuple[Any, ...]) -> bool:
    """A partial cell on the buffer's edge (MVT coordinate -64 or 4160), which only counting per request has.

    It selects the tile's points with ``&&`` (float4 boxes): a point up to a metre beyond the buffer adds
    a cell of its own at the edge with a part of that cell's count; the pyramid keeps whole cells only.
    """
    x, y = (int(v) for v in feature[2].strip("[]").split(","))
    return bool({x, y} & {-64, 4096 + 64})


def _canonical(features: list[dict[str, Any]]) -> list[Any]:
    return sorted(
        (f.get("id") or 0, sorted(f["properties"].items()), repr(f["geometry"]["coordinates"]))
        for f in features
    )


@pytest.fixture(scope="module")
def dense(pg: psycopg.Connection[Any]) -> str:
    ensure_layer(pg, "py-points", "Point")
    set_tile_settings(pg, "py-points", RULES)  # as the manifest sync does before a load
    info = import_frame(pg, "py-points", point_frame(N, seed=11, bbox=BBOX), author="test", publish=True)
    assert info.report["tile_pyramid"]["min_zoom"] == 6 and info.report["tile_pyramid"]["max_zoom"] == 11
    assert info.report["tile_pyramid"]["seconds"] >= 0
    return info.table_name


def test_pyramid_counts_are_exact(pg: psycopg.Connection[Any], dense: str) -> None:
    thin = psycopg.sql.Identifier("layerdata", f"{dense}_thin")
    data = psycopg.sql.Identifier("layerdata", dense)
    for z in range(6, 12):
        cell = tile_size_m(z) / SETTINGS.grid_cells
        total = pg.execute(
            psycopg.sql.SQL("SELECT sum(count) FROM {} WHERE z = %s").format(thin), (z,)
        ).fetchone()
        assert total is not None and total[0] == N, z
        # a few cells, each counted directly from the points inside its bounds
        reps = pg.execute(
            psycopg.sql.SQL("SELECT fid, count, ST_X(geom_3857), ST_Y(geom_3857) FROM {} WHERE z = %s "
                            "ORDER BY count DESC, fid LIMIT 3").format(thin),
            (z,),
        ).fetchall()  # fmt: skip
        for fid, count, x, y in reps:
            x0 = ORIGIN_M + math.floor((x - ORIGIN_M) / cell) * cell
            y0 = ORIGIN_M + math.floor((y - ORIGIN_M) / cell) * cell
            direct = pg.execute(
                psycopg.sql.SQL(
                    "SELECT count(*), min(fid) FROM {} WHERE ST_X(geom_3857) >= %s AND ST_X(geom_3857) < %s "
                    "AND ST_Y(geom_3857) >= %s AND ST_Y(geom_3857) < %s"
                ).format(data),
                (x0, x0 + cell, y0, y0 + cell),
            ).fetchone()
            assert direct == (count, fid), (z, fid)
    zooms = pg.execute(
        psycopg.sql.SQL("SELECT array_agg(DISTINCT z ORDER BY z) FROM {}").format(thin)
    ).fetchone()
    assert zooms is not None and zooms[0] == list(range(6, 12))


def test_pyramid_tiles_equal_the_counted_tiles(db_url: str, pg: psycopg.Connection[Any], dense: str) -> None:
    layer = _load(db_url)["py-points"]
    version = layer.versions[layer.current_version or 0]
    assert version.pyramid is not None and version.pyramid.table_name == f"{dense}_thin"
    counted = dataclasses.replace(version, pyramid=None)
    data = psycopg.sql.Identifier("layerdata", dense)
    for z in range(6, 12):
        mode = rule_for_zoom(layer.rules, "Point", (), z).mode
        for _, x, y in tiles_in_bbox(BBOX, z):
            fast = _tile(db_url, layer, version, z, x, y)
            slow = _tile(db_url, layer, counted, z, x, y)
            a, b = _canonical(fast), _canonical(slow)
            assert [f for f in a if f not in b] == [], (z, x, y)  # every cell the same, with the same count
            assert all(_on_edge(f) for f in b if f not in a), (z, x, y, [f for f in b if f not in a])
            cell, g, n = tile_size_m(z) / SETTINGS.grid_cells, SETTINGS.grid_cells, 1 << z
            in_cells = pg.execute(
                psycopg.sql.SQL(
                    "SELECT count(*) FROM (SELECT floor((ST_X(geom_3857) - %s) / %s) AS cx, "
                    "floor((ST_Y(geom_3857) - %s) / %s) AS cy FROM {}) AS c "
                    "WHERE cx BETWEEN %s AND %s AND cy BETWEEN %s AND %s"
                ).format(data),
                (ORIGIN_M, cell, ORIGIN_M, cell, x * g - 1, (x + 1) * g, (n - 1 - y) * g - 1, (n - y) * g),
            ).fetchone()
            assert in_cells is not None and sum(f["properties"]["count"] for f in fast) == in_cells[0], (
                z,
                x,
                y,
            )
            if mode is Mode.thin:
                assert {"count", "name", "kind", "value", "score"} <= set(fast[0]["properties"])
            else:
                assert all(set(f["properties"]) == {"count"} for f in fast)
    # above the pyramid the tile statement reads the points again
    assert version.pyramid_at(12, SETTINGS.grid_cells) is None and version.pyramid_at(11, 32) is None


def test_server_serves_pyramid_tiles(tile_server: Any, dense: str) -> None:
    server: TileServer = tile_server()
    for z in (8, 10):
        x, y = lonlat_to_tile(106.7, 10.78, z)
        resp = server.get(f"/tiles/py-points/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "identity"})
        assert resp.status_code == 200, resp.text
        features = decode(resp.content)["py-points"]["features"]
        assert features and all(f["properties"]["count"] >= 1 for f in features)
    layer = server.service.catalog.layers["py-points"]
    version = layer.versions[layer.current_version or 0]
    assert version.pyramid == Pyramid(f"{dense}_thin", SETTINGS.grid_cells, 6, 11)


def _tile_sum(server: TileServer, path: str, z: int) -> int:
    x, y = lonlat_to_tile(*SMALL[:2], z)
    assert (x, y) == lonlat_to_tile(*SMALL[2:], z)
    resp = server.get(f"/tiles/{path}/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "identity"})
    assert resp.status_code == 200, resp.text
    return sum(f["properties"]["count"] for f in decode(resp.content)["py-versions"]["features"])


def test_republish_and_rollback_keep_the_pyramid_consistent(
    pg: psycopg.Connection[Any], tile_server: Any
) -> None:
    slug = "py-versions"
    ensure_layer(pg, slug, "Point")
    set_tile_settings(pg, slug, {"minzoom": 8, "maxzoom": 16, "thin_points_below_zoom": 12})
    v1 = import_frame(pg, slug, point_frame(2000, seed=1, bbox=SMALL), author="test", publish=True)
    v2 = import_frame(pg, slug, point_frame(3000, seed=2, bbox=SMALL), author="test", publish=True)
    assert _exists(pg, v1.table_name) and _exists(pg, v2.table_name)
    server: TileServer = tile_server()
    assert _tile_sum(server, slug, 10) == 3000
    assert _tile_sum(server, f"{slug}/v1", 10) == 2000  # the superseded version keeps its pyramid

    again = rollback_to(pg, slug, 1, actor="test")
    assert again.report["tile_pyramid"] == v1.report["tile_pyramid"]  # still valid: not rebuilt
    # the rules change: republishing rebuilds it for the new zooms
    set_tile_settings(pg, slug, {"minzoom": 8, "maxzoom": 16, "thin_points_below_zoom": 11})
    rebuilt = publish_version(pg, slug, 1, actor="test")
    assert (rebuilt.report["tile_pyramid"]["min_zoom"], rebuilt.report["tile_pyramid"]["max_zoom"]) == (8, 10)
    # no thinning any more: a publish drops it
    set_tile_settings(pg, slug, {"minzoom": 8, "maxzoom": 16})
    plain = rollback_to(pg, slug, 2, actor="test")
    assert "tile_pyramid" not in plain.report and not _exists(pg, v2.table_name)
    # dropped with its version's table
    assert _exists(pg, v1.table_name)
    ingest_queries.drop_data_table(pg, v1.table_name)
    assert not _exists(pg, v1.table_name)


def test_no_pyramid_without_thinning(pg: psycopg.Connection[Any]) -> None:
    ensure_layer(pg, "py-plain", "Point")
    info = import_frame(pg, "py-plain", point_frame(500, seed=3), author="test", publish=True)
    assert "tile_pyramid" not in info.report and not _exists(pg, info.table_name)
    assert spec_for({"thin_points_below_zoom": 12}, "LineString", SETTINGS) is None
    assert spec_for({"minzoom": 12, "thin_points_below_zoom": 12}, "Point", SETTINGS) is None
    spec = spec_for({"minzoom": 3, "maxzoom": 9, "cluster_below_zoom": 14}, "MultiPoint", SETTINGS)
    assert spec is not None and (spec.min_zoom, spec.max_zoom) == (3, 9)
