"""Tile routes end to end: TileJSON, versioned URLs, publish invalidation, HTTP caching, bad input."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gis_platform.ingest.service import import_frame
from gis_platform.tiles.rules import lonlat_to_tile
from tests.factories import ensure_layer, point_frame
from tests.tiles.conftest import (
    CENTRE,
    TileServer,
    assert_problem,
    decode,
    line_frame,
    set_tile_settings,
    square_frame,
)
from tests.tiles.test_styles import validate

pytestmark = pytest.mark.db

MVT = "application/vnd.mapbox-vector-tile"


@pytest.fixture(scope="module")
def server(pg: psycopg.Connection[Any], tile_server: Any) -> TileServer:
    ensure_layer(pg, "t-points", "Point")
    import_frame(pg, "t-points", point_frame(500), author="test", publish=True)
    ensure_layer(pg, "t-lines", "LineString")
    import_frame(pg, "t-lines", line_frame(300), author="test", publish=True)
    ensure_layer(pg, "t-areas", "Polygon")
    import_frame(pg, "t-areas", square_frame(4), author="test", publish=True)
    set_tile_settings(
        pg,
        "t-areas",
        {"minzoom": 6, "maxzoom": 15, "attributes_by_zoom": {"6": ["code"], "12": ["code", "population"]}},
    )
    ensure_layer(pg, "t-hidden", "Point", visibility="internal")
    import_frame(pg, "t-hidden", point_frame(10), author="test", publish=True)
    ensure_layer(pg, "t-versions", "Point")
    import_frame(pg, "t-versions", point_frame(50, seed=7), author="test", publish=True)
    return tile_server(catalogue_ttl_s=3600)


def centre_tile(z: int) -> tuple[int, int, int]:
    x, y = lonlat_to_tile(*CENTRE, z)
    return z, x, y


def test_tilejson_fields_and_versioned_urls(server: TileServer) -> None:
    resp = server.get("/tiles/t-points.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == [f"{server.live.url}/tiles/t-points/v1/{{z}}/{{x}}/{{y}}.mvt"]
    assert doc["minzoom"] == 0 and doc["maxzoom"] == 16
    west, south, east, north = doc["bounds"]
    assert 106.6 <= west < east <= 106.8 and 10.7 <= south < north <= 10.85
    assert west <= doc["center"][0] <= east and len(doc["center"]) == 3
    assert doc["attribution"] == "test" and doc["name"]
    layer = doc["vector_layers"][0]
    assert layer["id"] == "t-points"
    assert layer["fields"] == {"name": "String", "kind": "String", "value": "Number", "score": "Number"}
    assert (layer["minzoom"], layer["maxzoom"]) == (0, 16)
    areas = server.get("/tiles/t-areas.json").json()
    assert (areas["minzoom"], areas["maxzoom"]) == (6, 15)


def wait_for_gzip(server: TileServer, path: str) -> Any:
    """The tile once its gzip form is cached (a new tile is answered uncompressed, then gzipped)."""
    deadline = time.monotonic() + 5
    while True:
        resp = server.get(path)  # httpx sends Accept-Encoding: gzip
        if resp.headers.get("content-encoding") == "gzip":
            return resp
        assert time.monotonic() < deadline, "the tile was never served gzipped"
        time.sleep(0.02)


def test_tile_content_type_gzip_etag_and_304(server: TileServer) -> None:
    z, x, y = centre_tile(12)
    path = f"/tiles/t-points/{z}/{x}/{y}.mvt"
    first = server.get(path)
    assert first.status_code == 200
    assert first.headers["content-type"] == MVT
    resp = wait_for_gzip(server, path)
    assert resp.headers["content-type"] == MVT
    assert resp.headers["cache-control"] == "public, max-age=60"
    assert "Accept-Encoding" in resp.headers["vary"]
    etag = resp.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert resp.content == first.content  # httpx has decompressed it
    features = decode(resp.content)["t-points"]["features"]
    assert features and {"name", "kind", "value", "score"} <= features[0]["properties"].keys()
    assert isinstance(features[0]["id"], int)

    plain = server.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == resp.content and plain.headers["etag"] != etag

    raw = server.client.build_request("GET", path, headers={"Accept-Encoding": "gzip"})
    streamed = server.client.send(raw, stream=True)
    assert gzip.decompress(b"".join(streamed.iter_raw())) == resp.content

    for validator in (etag, plain.headers["etag"], f"W/{etag}", f'"other", {etag}'):
        again = server.get(path, headers={"If-None-Match": validator})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
    assert server.get(path, headers={"If-None-Match": '"other"'}).status_code == 200

    pbf = server.get(f"/tiles/t-points/{z}/{x}/{y}.pbf")
    assert pbf.status_code == 200 and pbf.content == resp.content


def test_versioned_url_is_immutable(server: TileServer) -> None:
    z, x, y = centre_tile(12)
    resp = server.get(f"/tiles/t-points/v1/{z}/{x}/{y}.mvt")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert_problem(server.get(f"/tiles/t-points/v9/{z}/{x}/{y}.mvt"), 404)
    assert_problem(server.get(f"/tiles/t-points/vx/{z}/{x}/{y}.mvt"), 404)


def test_empty_tile_is_204(server: TileServer) -> None:
    resp = server.get("/tiles/t-points/10/0/0.mvt")
    assert resp.status_code == 204 and resp.content == b""
    assert "cache-control" in resp.headers


def test_composite_tile_has_both_layers(server: TileServer) -> None:
    z, x, y = centre_tile(11)
    resp = server.get(f"/tiles/t-points,t-lines/{z}/{x}/{y}.mvt")
    assert resp.status_code == 200
    layers = decode(resp.content)
    assert set(layers) == {"t-points", "t-lines"}
    assert layers["t-lines"]["features"][0]["geometry"]["type"].endswith("LineString")
    doc = server.get("/tiles/t-points,t-lines.json").json()
    assert doc["tiles"][0].endswith("/tiles/t-points,t-lines/v1,1/{z}/{x}/{y}.mvt")
    assert [v["id"] for v in doc["vector_layers"]] == ["t-points", "t-lines"]
    versioned = server.get(doc["tiles"][0].format(z=z, x=x, y=y))
    assert versioned.status_code == 200 and versioned.content == resp.content
    # one statement for both: the composite's query is a concatenation of two ST_AsMVT
    ref = server.service._refs[("t-points,t-lines", None)]
    statement = server.service.query_for(ref, z).sql
    assert statement.count("ST_AsMVT(q") >= 2 and " || " in statement


def test_attributes_per_zoom(server: TileServer) -> None:
    z, x, y = centre_tile(8)
    low = decode(server.get(f"/tiles/t-areas/{z}/{x}/{y}.mvt").content)["t-areas"]["features"]
    assert low and all(set(f["properties"]) == {"code"} for f in low)
    z, x, y = centre_tile(13)
    high = decode(server.get(f"/tiles/t-areas/{z}/{x}/{y}.mvt").content)["t-areas"]["features"]
    assert high and all(set(f["properties"]) == {"code", "population"} for f in high)
    assert high[0]["geometry"]["type"].endswith("Polygon")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tiles/t-points/25/0/0.mvt", 404),
        ("/tiles/t-points/17/0/0.mvt", 404),  # beyond the layer's maxzoom
        ("/tiles/t-areas/3/0/0.mvt", 404),  # below the layer's minzoom
        ("/tiles/t-points/3/-1/0.mvt", 404),
        ("/tiles/t-points/3/8/0.mvt", 404),
        ("/tiles/t-points/3/0/8.mvt", 404),
        ("/tiles/t-points/3/0/abc.mvt", 422),
        ("/tiles/t-points/x/0/0.mvt", 422),
        ("/tiles/t-points/3/0/99999999999999999999999.mvt", 404),
        ("/tiles/no-such-layer/3/0/0.mvt", 404),
        ("/tiles/t-hidden/3/0/0.mvt", 404),
        ("/tiles/t-points,no-such-layer/3/0/0.mvt", 404),
        ("/tiles/t-points,t-points/3/0/0.mvt", 400),
        ("/tiles/no-such-layer.json", 404),
        ("/collections/no-such-layer/tiles", 404),
        ("/collections/t-points/tiles/WebMercatorQuad/25/0/0", 404),
        ("/collections/t-points/tiles/WorldCRS84Quad/1/0/0", 404),
        ("/styles/no-such-layer.json", 404),
    ],
)
def test_bad_input_is_a_problem(server: TileServer, path: str, status: int) -> None:
    assert_problem(server.get(path), status)


def test_ogc_tiles(server: TileServer) -> None:
    sets = server.get("/collections/t-points/tiles").json()
    tileset = sets["tilesets"][0]
    assert tileset["tileMatrixSetURI"].endswith("/WebMercatorQuad") and tileset["dataType"] == "vector"
    item = next(link for link in tileset["links"] if link["rel"] == "item")
    assert item["href"].endswith(
        "/collections/t-points/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
    )
    meta = server.get("/collections/t-points/tiles/WebMercatorQuad").json()
    assert meta["tileMatrixSetLimits"][12]["tileMatrix"] == "12"
    z, x, y = centre_tile(12)
    ogc = server.get(f"/collections/t-points/tiles/WebMercatorQuad/{z}/{y}/{x}")  # row (y) before column (x)
    xyz = server.get(f"/tiles/t-points/{z}/{x}/{y}.mvt")
    assert ogc.status_code == 200 and ogc.content == xyz.content


def test_style_endpoint(server: TileServer, tmp_path: Path) -> None:
    style = server.get("/styles/t-areas.json").json()
    assert style["version"] == 8
    assert style["sources"]["t-areas"]["url"] == f"{server.live.url}/tiles/t-areas.json"
    assert {layer["type"] for layer in style["layers"]} == {"fill", "line"}
    assert all(layer["source-layer"] == "t-areas" for layer in style["layers"])
    files = []
    for slug in ("t-points", "t-lines", "t-areas"):
        files.append(tmp_path / f"{slug}.json")
        files[-1].write_text(server.get(f"/styles/{slug}.json").text)
    result = validate(*files)
    assert result.returncode == 0, result.stderr


def test_publish_changes_urls_and_old_url_keeps_old_content(
    server: TileServer, pg: psycopg.Connection[Any]
) -> None:
    z, x, y = centre_tile(11)
    before = server.get("/tiles/t-versions.json").json()["tiles"][0]
    old_url = before.format(z=z, x=x, y=y)
    old = decode(server.get(old_url).content)["t-versions"]["features"]
    current_old = server.get(f"/tiles/t-versions/{z}/{x}/{y}.mvt").content

    import_frame(pg, "t-versions", point_frame(300, seed=8), author="test", publish=True)

    after = server.get("/tiles/t-versions.json").json()["tiles"][0]
    assert after != before and "/v2/" in after
    new = decode(server.get(after.format(z=z, x=x, y=y)).content)["t-versions"]["features"]
    assert len(new) > len(old)
    # the old versioned URL keeps serving version 1 from its (superseded) table
    assert decode(server.get(old_url).content)["t-versions"]["features"] == old
    # the unversioned URL follows the publish (LISTEN/NOTIFY refresh; the TTL here is an hour)
    deadline = time.monotonic() + 5
    while server.get(f"/tiles/t-versions/{z}/{x}/{y}.mvt").content == current_old:
        assert time.monotonic() < deadline, "the unversioned tile did not follow the publish"
        time.sleep(0.05)
    assert len(
        decode(server.get(f"/tiles/t-versions/{z}/{x}/{y}.mvt").content)["t-versions"]["features"]
    ) == len(new)


def _without_lanes(app: Any) -> None:
    from gis_platform.tiles.http import TileLane

    app.user_middleware = [m for m in app.user_middleware if m.cls is not TileLane]


#: Headers whose values differ between two answers by design.
_PER_ANSWER = {"date", "x-request-id"}


def test_routes_alone_answer_like_the_lanes(
    server: TileServer, make_server: Any, db_url: str, tmp_path: Path
) -> None:
    """The lanes (in front of the middleware stack, and innermost) answer as the routes do through the stack."""
    from gis_platform.settings import TileSettings

    live = make_server(
        db_url, app_hook=_without_lanes, tiles=TileSettings(cache_dir=tmp_path / "cache"), REDIS_URL=""
    )
    routes = TileServer(live)
    z, x, y = centre_tile(13)
    compared = 0
    for path in (
        f"/tiles/t-points/{z}/{x}/{y}.mvt",
        f"/tiles/t-points,t-lines/v1,1/{z}/{x}/{y}.pbf",
        f"/collections/t-points/tiles/WebMercatorQuad/{z}/{y}/{x}",
        "/tiles/t-points/10/0/0.mvt",  # empty: 204
        "/tiles/t-points/25/0/0.mvt",  # problem
        "/tiles/t-hidden/10/0/0.mvt",  # internal: 404 problem
    ):
        # a new tile is answered plain at once and gzipped in the background: let both caches hold it gzipped
        routes.get(path), server.get(path)
        time.sleep(0.3)
        for headers in (
            {"Accept-Encoding": "identity"},  # plain: the front lane
            {"Accept-Encoding": "gzip"},
            {"Origin": "https://elsewhere.example"},  # CORS: the inner lane
            {"X-Request-ID": "abc123"},
        ):
            ours, theirs = routes.get(path, headers=headers), server.get(path, headers=headers)
            assert ours.status_code == theirs.status_code, (path, headers)
            if ours.headers.get("content-type") == "application/problem+json":
                bodies = [{k: v for k, v in r.json().items() if k != "request_id"} for r in (ours, theirs)]
                assert bodies[0] == bodies[1], (path, headers)
            else:
                assert ours.content == theirs.content, (path, headers)
            mine = {k: v for k, v in ours.headers.items() if k not in _PER_ANSWER}
            lane = {k: v for k, v in theirs.headers.items() if k not in _PER_ANSWER}
            assert mine == lane, (path, headers)
            assert "x-request-id" in ours.headers and "x-request-id" in theirs.headers
            if "X-Request-ID" in headers:
                assert ours.headers["x-request-id"] == theirs.headers["x-request-id"] == "abc123"
            compared += 1
    assert compared == 24
    assert "origin" in server.get(f"/tiles/t-points/{z}/{x}/{y}.mvt").headers["vary"].lower()
    path = f"/tiles/t-points/{z}/{x}/{y}.mvt"
    assert routes.get(path, headers={"If-None-Match": routes.get(path).headers["etag"]}).status_code == 304
    assert_problem(routes.get("/tiles/t-points/25/0/0.mvt"), 404)
    assert_problem(routes.get("/tiles/t-points/3/0/x.mvt"), 422)
