"""CQL2 filters: every operator class, both encodings, filter-crs, and the compiled SQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pandas as pd
import pytest
import shapely
from psycopg import sql

from gis_platform.errors import InvalidParameter
from gis_platform.features.binds import Binds
from gis_platform.features.cql import compile_filter, parse_filter
from gis_platform.features.crs import CRS84, EPSG_4326
from gis_platform.features.models import Collection, Field
from tests.features.conftest import PARCELS, POINTS, parcels, points, problem

FRAME = points()
ITEMS = f"/collections/{POINTS}/items"


def matching(
    api: httpx.Client, text: str, lang: str = "cql2-text", path: str = ITEMS, **extra: Any
) -> set[int]:
    resp = api.get(path, params={"filter": text, "filter-lang": lang, "limit": 10_000, **extra})
    assert resp.status_code == 200, resp.text[:400]
    return {f["id"] for f in resp.json()["features"]}


def where(predicate: Any) -> set[int]:
    return {i + 1 for i, row in FRAME.iterrows() if predicate(row)}


CASES = [
    ("kind = 'a'", lambda r: r["kind"] == "a"),
    ("kind <> 'a' AND value >= 500", lambda r: r["kind"] != "a" and r["value"] >= 500),
    ("value < 100 OR score > 0.95", lambda r: r["value"] < 100 or r["score"] > 0.95),
    ("NOT (value < 900)", lambda r: not r["value"] < 900),
    ("name LIKE 'Điểm 1_'", lambda r: len(r["name"]) == 7 and r["name"].startswith("Điểm 1")),
    ("name NOT LIKE 'Điểm%'", lambda r: False),
    ("value BETWEEN 100 AND 200", lambda r: 100 <= r["value"] <= 200),
    ("value NOT BETWEEN 100 AND 900", lambda r: not 100 <= r["value"] <= 900),
    ("kind IN ('a', 'c')", lambda r: r["kind"] in ("a", "c")),
    ("value IN (1, 999999, 3.5)", lambda r: r["value"] in (1, 999999)),
    ("fid IN (1, 2, 3)", lambda r: r.name < 3),
    ("note IS NULL", lambda r: pd.isna(r["note"])),
    ("note IS NOT NULL AND active = FALSE", lambda r: not pd.isna(r["note"]) and not r["active"]),
    ("CASEI(kind) = casei('A')", lambda r: r["kind"] == "a"),
    ("ACCENTI(ten_duong) = ACCENTI('Duong so 3')", lambda r: r["ten_duong_"] == 3),
    ("day = DATE('2024-01-05')", lambda r: str(r["day"]) == "2024-01-05"),
    ("day > DATE('2024-04-05')", lambda r: str(r["day"]) > "2024-04-05"),
    ("seen_at < TIMESTAMP('2024-01-01T05:00:00Z')", lambda r: r.name < 5),
    ("value * 2 + 1 > 1500", lambda r: r["value"] * 2 + 1 > 1500),
    ("value / 0 > 1", lambda r: False),
    ("value % 100 = 0", lambda r: r["value"] % 100 == 0),
    ("value div 100 = 3", lambda r: r["value"] // 100 == 3),
    ("value ^ 2 < 100", lambda r: r["value"] ** 2 < 100),
    ("score < value", lambda r: r["score"] < r["value"]),
    ("S_INTERSECTS(geom, BBOX(106.65, 10.72, 106.72, 10.8))",
     lambda r: shapely.box(106.65, 10.72, 106.72, 10.8).intersects(r.geometry)),
    ("S_WITHIN(geom, POLYGON((106.6 10.7, 106.7 10.7, 106.7 10.8, 106.6 10.8, 106.6 10.7))) AND kind = 'b'",
     lambda r: r["kind"] == "b" and shapely.box(106.6, 10.7, 106.7, 10.8).contains(r.geometry)),
    ("S_DISJOINT(geom, BBOX(106.6, 10.7, 106.7, 10.85))",
     lambda r: not shapely.box(106.6, 10.7, 106.7, 10.85).intersects(r.geometry)),
    ("S_EQUALS(geom, POINT(1 2))", lambda r: False),
    ("TRUE", lambda r: True),
]  # fmt: skip


@pytest.mark.db
@pytest.mark.parametrize(("text", "predicate"), CASES, ids=[c[0][:40] for c in CASES])
def test_cql2_text(api: httpx.Client, text: str, predicate: Any) -> None:
    FRAME["ten_duong_"] = [i % 7 for i in range(len(FRAME))]
    assert matching(api, text) == where(predicate)


@pytest.mark.db
def test_cql2_json(api: httpx.Client) -> None:
    expr = {
        "op": "and",
        "args": [
            {"op": "=", "args": [{"property": "kind"}, "b"]},
            {"op": "s_intersects", "args": [{"property": "geom"}, {"bbox": [106.65, 10.72, 106.72, 10.8]}]},
            {"op": "like", "args": [{"property": "name"}, "Điểm%"]},
        ],
    }
    box = shapely.box(106.65, 10.72, 106.72, 10.8)
    assert matching(api, json.dumps(expr), "cql2-json") == where(
        lambda r: r["kind"] == "b" and box.intersects(r.geometry)
    )
    polygon = {
        "type": "Polygon",
        "coordinates": [[[106.6, 10.7], [106.7, 10.7], [106.7, 10.8], [106.6, 10.7]]],
    }
    expr2 = {"op": "s_intersects", "args": [{"property": "geom"}, polygon]}
    shape = shapely.geometry.shape(polygon)
    assert matching(api, json.dumps(expr2), "cql2-json") == where(lambda r: shape.intersects(r.geometry))
    assert matching(api, "true", "cql2-json") == where(lambda r: True)


@pytest.mark.db
def test_filter_crs_and_polygons(api: httpx.Client) -> None:
    box = shapely.box(106.65, 10.72, 106.72, 10.8)
    want = where(lambda r: box.intersects(r.geometry))
    lat_lon = "S_INTERSECTS(geom, BBOX(10.72, 106.65, 10.8, 106.72))"
    assert matching(api, lat_lon, **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}) == want
    frame = parcels()
    point = shapely.Point(106.655, 10.755)
    got = matching(api, "S_CONTAINS(geom, POINT(106.655 10.755))", path=f"/collections/{PARCELS}/items")
    assert got == {i + 1 for i, g in enumerate(frame.geometry) if g.contains(point)} == {1}
    touches = matching(api, "S_TOUCHES(geom, POINT(106.65 10.75))", path=f"/collections/{PARCELS}/items")
    assert touches == {1}
    crossing = "S_CROSSES(geom, LINESTRING(106.64 10.755, 106.675 10.755))"
    assert matching(api, crossing, path=f"/collections/{PARCELS}/items") == {1, 2, 3}
    assert matching(api, "S_OVERLAPS(geom, BBOX(106.655, 10.755, 106.665, 10.765))",
                    path=f"/collections/{PARCELS}/items") == {1, 2, 7, 8}  # fmt: skip


BAD_FILTERS = [
    "name =", "nope = 1", "value > 'x'", "kind LIKE 3", "S_INTERSECTS(value, POINT(1 2))", "geom = 1",
    "name = 'x'; DROP TABLE catalogue.layer", "\"na'me\" = 1", "name = 1e400", "T_AFTER(day, DATE('2020-01-01'))",
    "foo(name) = 1", "value + 'a' > 1", "S_INTERSECTS(geom, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))",
    "day = DATE('2024-02-30')", "value", "NOT " * 3000 + "value = 1",
    "S_INTERSECTS(geom, POINT(1e30 1))", "kind IN ()", "value IN ('a', 'b')", "name = '" + "x" * 20_000 + "'",
]  # fmt: skip


@pytest.mark.db
@pytest.mark.parametrize("text", BAD_FILTERS, ids=range(len(BAD_FILTERS)))
def test_bad_filters_are_400(api: httpx.Client, text: str) -> None:
    problem(api.get(ITEMS, params={"filter": text}), 400, "filter")


@pytest.mark.db
def test_deeply_nested_filters_do_not_crash_the_parser(api: httpx.Client) -> None:
    for text in (
        "(" * 5000 + "value = 1" + ")" * 5000,
        "value = " + "-" * 16_000 + "1",
        "NOT " * 4000 + "value = 1",
    ):
        assert api.get(ITEMS, params={"filter": text}).status_code in (200, 400)
    assert api.get(ITEMS).status_code == 200


@pytest.mark.db
@pytest.mark.parametrize(
    "text", ['{"op": "=", "args": [1]}', "[1, 2]", "{", '{"op": "=", "args": [{"property": "x\\"; --"}, 1]}',
             '{"op": "s_intersects", "args": [{"property": "geom"}, {"bbox": [3, 2, 1]}]}', "[" * 5000]
)  # fmt: skip
def test_bad_json_filters_are_400(api: httpx.Client, text: str) -> None:
    problem(api.get(ITEMS, params={"filter": text, "filter-lang": "cql2-json"}), 400, "filter")
    problem(api.get(ITEMS, params={"filter": "value = 1", "filter-lang": "cql-text"}), 400, "filter-lang")


# --- unit: the compiled SQL carries identifiers from the catalogue and values only as parameters ----

COLLECTION = Collection(
    layer_id=1, slug="t", title="t", title_vi="t", description="", keywords=(), licence="", attribution="",
    geometry_type="Point", version=1, table="l1_v1", feature_count=0, bbox=None,
    fields=(Field("name", "text", "Name", sql.SQL("t.{}").format(sql.Identifier("name"))),
            Field("value", "integer", "Value", sql.SQL("t.{}").format(sql.Identifier("value")))),
)  # fmt: skip


def compiled(text: str, crs: Any = CRS84) -> tuple[str, list[Any]]:
    binds = Binds()
    node = asyncio.run(parse_filter(text, "cql2-text"))
    return compile_filter(COLLECTION, node, binds, crs).as_string(None), binds.values


def test_values_are_bound_never_inlined() -> None:
    text, values = compiled(
        "name = 'x'' OR 1=1 --' AND value IN (1, 2) AND S_INTERSECTS(geom, POINT(106 10))"
    )
    assert "OR 1=1" not in text and "--" not in text
    assert text.count("$") == 3 and values[0] == "x' OR 1=1 --" and values[1] == [1, 2]
    assert isinstance(values[2], bytes)
    assert 't."name" = $1::text' in text and 't."value" = ANY($2::bigint[])' in text


def test_lat_lon_filter_geometries_are_swapped() -> None:
    _, values = compiled("S_INTERSECTS(geom, POINT(10 106))", EPSG_4326)
    assert shapely.from_wkb(values[0]).equals(shapely.Point(106, 10))


def test_unknown_property_is_rejected_before_any_sql() -> None:
    with pytest.raises(InvalidParameter) as err:
        compiled('"value; DROP TABLE x" = 1')
    assert err.value.extensions["parameter"] == "filter"
