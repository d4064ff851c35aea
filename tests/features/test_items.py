"""Items: paging, bbox, datetime, equality, properties, sortby, CRS, formats, single features."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import httpx
import pyproj
import pytest
import shapely
import shapely.wkt

from tests.features.conftest import N_POINTS, PARCELS, POINTS, points, problem

pytestmark = pytest.mark.db

ITEMS = f"/collections/{POINTS}/items"
FRAME = points()


def get(api: httpx.Client, path: str = ITEMS, **params: Any) -> dict[str, Any]:
    resp = api.get(path, params=params)
    assert resp.status_code == 200, resp.text[:500]
    body: dict[str, Any] = resp.json()
    return body


def link(body: dict[str, Any], rel: str) -> str | None:
    return next((lk["href"] for lk in body["links"] if lk["rel"] == rel), None)


def ids(body: dict[str, Any]) -> list[int]:
    return [f["id"] for f in body["features"]]


def test_default_page_is_ten_geojson_features(api: httpx.Client) -> None:
    resp = api.get(ITEMS)
    assert resp.headers["content-type"].startswith("application/geo+json")
    assert resp.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    body = resp.json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == 10
    assert body["numberMatched"] == N_POINTS and "numberMatchedEstimated" not in body
    assert ids(body) == list(range(1, 11))
    feature = body["features"][0]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
    row = FRAME.iloc[0]
    assert feature["geometry"]["coordinates"] == pytest.approx([row.geometry.x, row.geometry.y], abs=1e-7)
    props = feature["properties"]
    assert props["name"] == row["name"] and props["value"] == row["value"] and props["day"] == "2024-01-01"
    assert props["active"] is True and props["ten_duong"] == "Đường số 0" and props["note"] is None
    assert props["seen_at"].startswith("2024-01-01T00:00:00")
    assert {"self", "alternate", "next", "collection"} <= {lk["rel"] for lk in body["links"]}


def test_paging_links_keep_every_other_parameter(api: httpx.Client) -> None:
    params = {"limit": 7, "sortby": "-value", "bbox": "106.6,10.7,106.8,10.85", "properties": "name,value"}
    first = get(api, **params)
    nxt = link(first, "next")
    assert nxt and "offset=7" in nxt and "sortby=-value" in nxt and "properties=name%2Cvalue" in nxt
    second = api.get(nxt).json()
    assert set(ids(first)).isdisjoint(ids(second)) and len(ids(second)) == 7
    prev = link(second, "prev")
    assert prev and "offset" not in prev and "limit=7" in prev
    assert ids(api.get(prev).json()) == ids(first)
    values = [f["properties"]["value"] for f in first["features"] + second["features"]]
    assert values == sorted(values, reverse=True)


def test_walking_every_page_returns_each_feature_once(api: httpx.Client) -> None:
    seen: list[int] = []
    url: str | None = f"{ITEMS}?limit=45"
    while url:
        body = api.get(url).json()
        seen += ids(body)
        url = link(body, "next")
    assert sorted(seen) == list(range(1, N_POINTS + 1))


def test_limit_offset_and_last_page(api: httpx.Client) -> None:
    body = get(api, limit=50, offset=190)
    assert ids(body) == list(range(191, 201)) and link(body, "next") is None and link(body, "prev")
    assert get(api, limit=10_000)["numberReturned"] == N_POINTS
    assert get(api, offset=5000)["features"] == []


def in_box(minx: float, miny: float, maxx: float, maxy: float) -> set[int]:
    box = shapely.box(minx, miny, maxx, maxy)
    return {i + 1 for i, g in enumerate(FRAME.geometry) if box.intersects(g)}


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "106.65,10.72,106.72,10.8"},
        {"bbox": "106.65,10.72,-5,106.72,10.8,100"},
        {"bbox": "10.72,106.65,10.8,106.72", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"},
        {"bbox": "11870338.6,1204650,11878131,1213700", "bbox-crs": "EPSG:3857"},
    ],
)
def test_bbox(api: httpx.Client, params: dict[str, str]) -> None:
    body = get(api, limit=1000, **params)
    if "3857" in params.get("bbox-crs", ""):
        to_ll = pyproj.Transformer.from_crs(3857, 4326, always_xy=True)
        x0, y0 = to_ll.transform(11870338.6, 1204650)
        x1, y1 = to_ll.transform(11878131, 1213700)
        expected = in_box(x0, y0, x1, y1)
    else:
        expected = in_box(106.65, 10.72, 106.72, 10.8)
    assert expected and set(ids(body)) == expected
    assert body["numberMatched"] == len(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-05", lambda d: d == date(2024, 1, 5)),
        ("2024-01-05T00:00:00Z", lambda d: d == date(2024, 1, 5)),
        ("2024-01-05/2024-01-07", lambda d: date(2024, 1, 5) <= d <= date(2024, 1, 7)),
        ("../2024-01-03", lambda d: d <= date(2024, 1, 3)),
        ("2024-04-05/..", lambda d: d >= date(2024, 4, 5)),
        ("2024-04-05/", lambda d: d >= date(2024, 4, 5)),
    ],
)
def test_datetime_on_the_date_property(api: httpx.Client, value: str, expected: Any) -> None:
    body = get(api, datetime=value, limit=1000)
    want = {i + 1 for i, d in enumerate(FRAME["day"]) if expected(d)}
    assert want and set(ids(body)) == want


def test_datetime_errors(api: httpx.Client) -> None:
    problem(api.get(ITEMS, params={"datetime": "yesterday"}), 400, "datetime")
    problem(api.get(ITEMS, params={"datetime": "2024-02-01/2024-01-01"}), 400, "datetime")
    problem(api.get(ITEMS, params={"datetime": "a/b/c"}), 400, "datetime")
    problem(api.get(f"/collections/{PARCELS}/items", params={"datetime": "2024-01-01"}), 400, "datetime")


def test_equality_on_queryables_is_typed(api: httpx.Client) -> None:
    body = get(api, kind="b", active="true", limit=1000)
    want = {
        i + 1 for i, (k, a) in enumerate(zip(FRAME["kind"], FRAME["active"], strict=True)) if k == "b" and a
    }
    assert set(ids(body)) == want
    assert ids(get(api, value=999999)) == [6]
    assert set(ids(get(api, ten_duong="Đường số 3", limit=1000))) == {
        i + 1 for i in range(N_POINTS) if i % 7 == 3
    }
    both = api.get(ITEMS, params=[("kind", "a"), ("kind", "c"), ("limit", "1000")]).json()
    assert set(ids(both)) == {i + 1 for i, k in enumerate(FRAME["kind"]) if k in ("a", "c")}
    assert ids(get(api, day="2024-01-02", limit=1000)) == [2, 102]
    problem(api.get(ITEMS, params={"value": "1.5"}), 400, "value")
    problem(api.get(ITEMS, params={"active": "maybe"}), 400, "active")
    problem(api.get(ITEMS, params={"day": "2024-13-01"}), 400, "day")


def test_properties_selection(api: httpx.Client) -> None:
    body = get(api, properties="value,name", limit=3)
    assert all(list(f["properties"]) == ["value", "name"] for f in body["features"])
    assert all(f["properties"] == {} for f in get(api, properties="", limit=3)["features"])
    problem(api.get(ITEMS, params={"properties": "value,nope"}), 400, "properties")


def test_sortby(api: httpx.Client) -> None:
    body = get(api, sortby="kind,-score", limit=1000)
    keys = [(f["properties"]["kind"], -f["properties"]["score"]) for f in body["features"]]
    assert keys == sorted(keys)
    # '+' sent unencoded arrives as a space
    asc = api.get(f"{ITEMS}?sortby=+value&limit=5").json()
    values = [f["properties"]["value"] for f in asc["features"]]
    assert values == sorted(values) and values[0] == FRAME["value"].min()
    assert ids(get(api, sortby="-fid", limit=3)) == [200, 199, 198]
    problem(api.get(ITEMS, params={"sortby": "nope"}), 400, "sortby")
    problem(api.get(ITEMS, params={"sortby": "geom"}), 400, "sortby")


def test_crs_axis_order_and_projections(api: httpx.Client) -> None:
    row = FRAME.iloc[0].geometry
    lat_lon = api.get(ITEMS, params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4326", "limit": 1})
    assert lat_lon.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4326>"
    assert lat_lon.json()["features"][0]["geometry"]["coordinates"] == pytest.approx([row.y, row.x], abs=1e-7)
    for code in (3857, 3405):
        resp = api.get(ITEMS, params={"crs": f"EPSG:{code}", "limit": 1})
        assert resp.headers["content-crs"] == f"<http://www.opengis.net/def/crs/EPSG/0/{code}>"
        geometry = resp.json()["features"][0]["geometry"]
        assert "crs" not in geometry
        x, y = pyproj.Transformer.from_crs(4326, code, always_xy=True).transform(row.x, row.y)
        assert geometry["coordinates"] == pytest.approx([x, y], abs=2.0 if code == 3405 else 0.01)
    problem(api.get(ITEMS, params={"crs": "EPSG:2154"}), 400, "crs")
    problem(api.get(ITEMS, params={"bbox": "1,2,3,4", "bbox-crs": "EPSG:9999"}), 400, "bbox-crs")


def test_csv_with_wkt(api: httpx.Client) -> None:
    resp = api.get(ITEMS, params={"f": "csv", "limit": 20})
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == 20 and next(iter(rows[0])) == "fid" and list(rows[0])[-1] == "wkt"
    assert rows[1]["note"] == 'he said "hi", <b>1</b>\n;--' and rows[0]["note"] == ""
    point = shapely.wkt.loads(rows[0]["wkt"])
    assert point.x == pytest.approx(FRAME.iloc[0].geometry.x, abs=1e-7)
    accept = api.get(ITEMS, params={"limit": 2, "properties": "name"}, headers={"Accept": "text/csv"})
    assert accept.text.splitlines()[0] == "fid,name,wkt"


def test_html_page_with_inline_svg_map(api: httpx.Client) -> None:
    resp = api.get(ITEMS, params={"limit": 15}, headers={"Accept": "text/html,application/xhtml+xml"})
    assert resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert page.count("<circle ") == 15 and "<svg" in page and "<b>" not in page and "&lt;b&gt;" in page
    assert "http" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "<script" not in page and 'rel="next"' in page
    parcels = api.get(f"/collections/{PARCELS}/items", params={"f": "html"}).text
    assert parcels.count("<path ") == 10


def test_single_feature(api: httpx.Client) -> None:
    resp = api.get(f"{ITEMS}/6")
    assert resp.headers["content-type"].startswith("application/geo+json")
    feature = resp.json()
    assert feature["id"] == 6 and feature["properties"]["value"] == 999_999
    assert {lk["rel"] for lk in feature["links"]} >= {"self", "alternate", "collection"}
    flipped = api.get(f"{ITEMS}/6", params={"crs": "EPSG:4326", "properties": "name"}).json()
    assert flipped["geometry"]["coordinates"][0] == pytest.approx(FRAME.iloc[5].geometry.y, abs=1e-7)
    assert list(flipped["properties"]) == ["name"]
    assert "<svg" in api.get(f"{ITEMS}/6", params={"f": "html"}).text
    for bad in ("0", "999999", "abc", "1.5", "-1", "99999999999999999999999"):
        problem(api.get(f"{ITEMS}/{bad}"), 404)
    problem(api.get(f"{ITEMS}/6", params={"limit": "1"}), 400, "limit")


def test_number_matched_is_estimated_beyond_the_exact_limit(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gis_platform.features import service

    monkeypatch.setattr(service, "EXACT_COUNT_MAX", 20)
    body = get(api, kind="a", limit=5)
    assert body["numberMatchedEstimated"] is True and body["numberMatched"] > 20
    exact = get(api, value=999999, limit=5)
    assert exact["numberMatched"] == 1 and "numberMatchedEstimated" not in exact
    monkeypatch.setattr(service, "EXACT_COUNT_MAX", 10_000)
    counted = get(api, kind="a", limit=5)
    assert counted["numberMatched"] == int((FRAME["kind"] == "a").sum())
