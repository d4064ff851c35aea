"""Tile pieces without a database: zoom rules, SQL composition, cache tiers, tile arithmetic."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from gis_platform.settings import TileSettings
from gis_platform.tiles.cache import DiskCache, MemoryCache, live_key_filter, make_tile
from gis_platform.tiles.http import render_tile
from gis_platform.tiles.models import Column, JoinedAttributes, LayerVersion, Mode
from gis_platform.tiles.queries import LayerPart, build_tile_query
from gis_platform.tiles.rules import (
    count_tiles,
    lonlat_to_tile,
    parse_rules,
    rule_for_zoom,
    tiles_in_bbox,
    valid_tile,
)
from gis_platform.tiles.seed import parse_bbox, parse_zooms
from gis_platform.tiles.service import gzip_bytes

DEFAULTS = TileSettings()
COLUMNS = ("name", "kind", "value")


def version(table: str = "l1_v2", geometry: str = "Point") -> LayerVersion:
    return LayerVersion(
        slug="pts", version=2, table_name=table, columns=tuple(Column(c, c, "text") for c in COLUMNS),
        bbox=(106.6, 10.7, 106.8, 10.85), geometry_type=geometry, feature_count=10, token="abc",
    )  # fmt: skip


def test_rules_tolerate_missing_and_malformed_keys() -> None:
    empty = parse_rules(None, DEFAULTS)
    assert (empty.minzoom, empty.maxzoom, empty.buffer) == (0, 16, 64)
    odd = parse_rules(
        {"minzoom": 14, "maxzoom": 9, "buffer": "x", "attributes_by_zoom": {"x": ["a"], "12": "oops", "10": ["name"]},
         "simplify_by_zoom": {"8": 2, "13": -1}, "cluster_below_zoom": True},
        DEFAULTS,
    )  # fmt: skip
    assert (odd.minzoom, odd.maxzoom, odd.buffer) == (9, 14, 64)
    assert odd.attributes_by_zoom == ((10, ("name",)),)
    assert odd.simplify_by_zoom == ((8, 2.0),)
    assert odd.cluster_below is None


def test_rule_for_zoom() -> None:
    rules = parse_rules(
        {"attributes_by_zoom": {"8": ["name", "missing"], "14": ["name", "kind", "value"]},
         "simplify_by_zoom": {"8": 2.0, "13": 0.5}, "cluster_below_zoom": 10, "thin_points_below_zoom": 13},
        DEFAULTS,
    )  # fmt: skip
    assert rule_for_zoom(rules, "Point", COLUMNS, 6).mode is Mode.cluster
    assert rule_for_zoom(rules, "Point", COLUMNS, 6).attributes == ("name",)  # below every key: the lowest
    assert rule_for_zoom(rules, "Point", COLUMNS, 12).mode is Mode.thin
    point = rule_for_zoom(rules, "Point", COLUMNS, 14)
    assert (point.mode, point.attributes, point.simplify_px) == (Mode.plain, COLUMNS, 0.0)
    line = rule_for_zoom(rules, "MultiLineString", COLUMNS, 12)
    assert (line.mode, line.simplify_px) == (Mode.plain, 2.0)  # thinning applies to points only
    assert rule_for_zoom(rules, "Polygon", COLUMNS, 13).simplify_px == 0.5


def test_sql_uses_identifiers_and_bind_parameters() -> None:
    rules = parse_rules({"cluster_below_zoom": 8, "simplify_by_zoom": {"0": 4}}, DEFAULTS)
    evil = version(table='l1_v2"; DROP TABLE x; --')
    part = LayerPart("pts", evil, rule_for_zoom(rules, "Point", COLUMNS, 12), buffer=64)
    query = build_tile_query([part], 12, grid_cells=64, max_features=5000)
    assert '"layerdata"."l1_v2""; DROP TABLE x; --"' in query.sql
    assert "ST_TileEnvelope($1, $2, $3)" in query.sql and "$4::text" in query.sql
    assert query.args[0] == "pts" and query.args[1] == 64
    assert "CASE WHEN" in query.sql  # the feature cap guards a plain zoom
    cluster = build_tile_query([LayerPart("pts", evil, rule_for_zoom(rules, "Point", COLUMNS, 5), 64)], 5,
                               grid_cells=64, max_features=5000)  # fmt: skip
    assert "count(*)::int4 AS count" in cluster.sql and "CASE" not in cluster.sql


def test_composite_sql_is_one_statement_and_joins_have_a_place() -> None:
    rules = parse_rules({}, DEFAULTS)
    join = JoinedAttributes("stats", "ward_indicators", key="code", foreign_key="unit_code",
                            columns=(Column("population", "population", "integer"),), tag="2025")  # fmt: skip
    wards = LayerPart("wards", version("l2_v1", "MultiPolygon"), rule_for_zoom(rules, "MultiPolygon", ("code",), 12),
                      buffer=64, joins=(join,))  # fmt: skip
    points = LayerPart("pts", version(), rule_for_zoom(rules, "Point", COLUMNS, 12), buffer=32)
    query = build_tile_query([points, wards], 12, grid_cells=64, max_features=5000)
    assert query.sql.startswith("SELECT ") and query.sql.count(";") == 0
    assert " || " in query.sql
    assert 'LEFT JOIN "stats"."ward_indicators" AS "j0" ON "j0"."unit_code" = t."code"' in query.sql
    assert '"j0"."population" AS "population"' in query.sql
    assert "pts" in query.args and "wards" in query.args


def test_simplification_tolerance_is_bound_only_when_it_matters() -> None:
    rules = parse_rules({"simplify_by_zoom": {"0": 2.0}}, DEFAULTS)
    part = LayerPart(
        "roads", version("l3_v1", "LineString"), rule_for_zoom(rules, "LineString", COLUMNS, 10), 64
    )
    assert "ST_Simplify(t.geom_3857" in build_tile_query([part], 10, grid_cells=64, max_features=10).sql
    polygons = LayerPart(
        "wards", version("l4_v1", "Polygon"), rule_for_zoom(rules, "Polygon", COLUMNS, 10), 64
    )
    assert (
        "ST_SimplifyPreserveTopology" in build_tile_query([polygons], 10, grid_cells=64, max_features=10).sql
    )
    tiny = parse_rules({"simplify_by_zoom": {"0": 0.01}}, DEFAULTS)
    part = LayerPart(
        "roads", version("l3_v1", "LineString"), rule_for_zoom(tiny, "LineString", COLUMNS, 10), 64
    )
    assert "ST_Simplify" not in build_tile_query([part], 10, grid_cells=64, max_features=10).sql


def test_tile_arithmetic() -> None:
    assert valid_tile(0, 0, 0, 24) and not valid_tile(25, 0, 0, 24)
    assert not valid_tile(3, 8, 0, 24) and not valid_tile(3, -1, 0, 24) and valid_tile(3, 7, 7, 24)
    x, y = lonlat_to_tile(106.7, 10.78, 14)
    assert (x, y) == (13048, 7698)
    bbox = (106.6, 10.7, 106.8, 10.85)
    assert count_tiles(bbox, 12) == len(list(tiles_in_bbox(bbox, 12)))
    assert parse_zooms("0-14") == (0, 14) and parse_zooms("7") == (7, 7)
    assert parse_bbox("106.6,10.7,106.8,10.85") == bbox
    for bad in ("14-2", "a-b", "-1"):
        with pytest.raises(Exception, match="Zooms"):
            parse_zooms(bad)


def test_memory_cache_is_bounded_in_bytes() -> None:
    cache = MemoryCache(max_bytes=10_000)
    for i in range(20):
        key = ("pts@1.a", 10, i, 0)
        cache.put(key, make_tile(key, b"x" * 1000))
        assert cache.bytes <= 10_000
    assert len(cache) < 20 and cache.get(("pts@1.a", 10, 19, 0)) is not None
    assert cache.get(("pts@1.a", 10, 0, 0)) is None  # the least recently used went first
    cache.put(("big", 0, 0, 0), make_tile(("big", 0, 0, 0), b"x" * 20_000))
    assert cache.get(("big", 0, 0, 0)) is None  # larger than the whole tier: not kept
    held = len(cache)
    assert cache.drop(lambda layer_key: layer_key != "pts@1.a") == held
    assert len(cache) == 0 and cache.bytes == 0


def test_disk_cache_survives_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    disk = DiskCache(tmp_path)
    key = ("pts@1.a", 3, 1, 2)
    disk.put(key, b"abc")
    assert disk.get(key) == b"abc" and not list(tmp_path.rglob(".tmp-*"))

    def full(*_args: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    disk.put(("pts@1.a", 3, 1, 3), b"def")  # no exception
    assert not disk.enabled and disk.get(key) is None
    assert not list(tmp_path.rglob(".tmp-*"))  # the temporary file is gone
    assert "disk caching is off" in caplog.text


def test_etags_and_encodings() -> None:
    key = ("pts@1.a", 3, 1, 2)
    plain = make_tile(key, b"mvt-bytes", gzipped=False)
    gz = make_tile(key, gzip_bytes(b"mvt-bytes", 3))
    assert plain.etag == gz.etag and plain.etag_identity == gz.etag_identity  # derived from the key
    status, headers, body = render_tile(gz, b"gzip, br", None, b"public")
    assert status == 200 and (b"content-encoding", b"gzip") in headers and body == gz.data
    status, headers, body = render_tile(gz, b"", None, b"public")
    assert body == b"mvt-bytes" and (b"etag", gz.etag_identity) in headers
    status, _, body = render_tile(plain, b"gzip", None, b"public")
    assert body == b"mvt-bytes"  # not compressed yet: sent as is
    assert render_tile(gz, b"gzip", b"W/" + gz.etag_identity, b"public")[0] == 304
    assert render_tile(make_tile(key, b""), b"gzip", None, b"public")[0] == 204


def test_sweep_filter() -> None:
    keep = live_key_filter({"a@2.x", "b@1.y"})
    assert keep("a@2.x") and keep("a@2.x+b@1.y") and keep("a@2.x~2025q1")
    assert not keep("a@1.z") and not keep("a@2.x+b@0.w")
