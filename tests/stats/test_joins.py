"""``?join=indicator`` on admin-unit features and tiles, on the boundaries of either date, through the live app."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import mapbox_vector_tile
import psycopg
import pytest

from gis_platform.auth.tokens import create_token
from gis_platform.catalogue import sync
from gis_platform.catalogue.manifest import load_layer_set
from gis_platform.ingest.service import import_frame
from gis_platform.settings import TileSettings
from gis_platform.stats.boundary_layers import publish_boundary_layers
from gis_platform.stats.joins import PRE_REFORM_WARDS
from gis_platform.tiles.rules import lonlat_to_tile
from tests.api.test_core_api import assert_problem
from tests.conftest import LiveServer
from tests.factories import ensure_layer, point_frame

pytestmark = pytest.mark.db

WARDS = "ranh-gioi-phuong-xa-2025"
DISTRICTS = "ranh-gioi-quan-huyen-2021-2025"
POINTS = "diem-thu-nghiem"
#: (layer, a day within its boundaries, how many units)
DATES = [(WARDS, "2026-01-01", 168), (PRE_REFORM_WARDS, "2025-03-01", 273)]
CENTRE = (106.70, 10.78)  # District 1


@pytest.fixture(scope="module")
def joins_db(stats_db: str) -> str:
    """The stats database with the admin layers loaded and the pre-reform wards published as a layer."""
    with psycopg.connect(stats_db, autocommit=True) as conn:
        layer_set = load_layer_set(check_sources=False)
        report = sync.sync(conn, layer_set, only=[WARDS, DISTRICTS])
        assert all(r.data == "loaded" for r in report.layers), report
        assert publish_boundary_layers(conn, [PRE_REFORM_WARDS]) == {PRE_REFORM_WARDS: 1}
        assert publish_boundary_layers(conn, [PRE_REFORM_WARDS]) == {PRE_REFORM_WARDS: 1}  # unchanged: kept
        ensure_layer(conn, POINTS, "Point")
        import_frame(conn, POINTS, point_frame(50), author="test", publish=True)
    return stats_db


@pytest.fixture(scope="module")
def server(
    joins_db: str, make_server: Callable[..., LiveServer], tmp_path_factory: pytest.TempPathFactory
) -> LiveServer:
    # the database first: torn down after the server, which would otherwise reconnect to it
    tiles = TileSettings(cache_dir=tmp_path_factory.mktemp("join-tiles"), disk_cache=False)
    live = make_server(joins_db, tiles=tiles)
    live_app: Any = live.server.config.app
    live_app.state.stats_joins.state_ttl_s = 0.2  # imports show within 0.2 s (default 2 s)
    return live


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def stats_values(api: httpx.Client, indicator: str, at: str, period: str) -> dict[str, float]:
    body = api.get("/stats/values", params={"indicator": indicator, "at": at, "period": period}).json()
    return {v["unit_code"]: v["value"] for v in body["values"]}


def joined_items(api: httpx.Client, slug: str, **params: str) -> dict[str, Any]:
    resp = api.get(f"/collections/{slug}/items", params={"limit": "1000", **params})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def tile_path(slug: str, z: int = 14, lonlat: tuple[float, float] = CENTRE) -> str:
    x, y = lonlat_to_tile(lonlat[0], lonlat[1], z)
    return f"/tiles/{slug}/{z}/{x}/{y}.mvt"


def decode(resp: httpx.Response, slug: str) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    layers = mapbox_vector_tile.decode(resp.content)
    return [f["properties"] for f in layers[slug]["features"]]


@pytest.mark.parametrize(("slug", "at", "units"), DATES)
def test_items_carry_the_values_of_stats_values(api: httpx.Client, slug: str, at: str, units: int) -> None:
    body = joined_items(api, slug, join="population,population_density", period="2019", at=at)
    assert body["numberReturned"] == units
    expected = {i: stats_values(api, i, at, "2019") for i in ("population", "population_density")}
    for feature in body["features"]:
        props = feature["properties"]
        for indicator, values in expected.items():
            assert props[indicator] == values.get(props["code"]), (indicator, props["code"])
    assert sum(1 for f in body["features"] if f["properties"]["population"] is not None) == len(
        expected["population"]
    )
    joins = {j["indicator"]: j for j in body["joins"]}
    assert joins["population"]["period"] == "2019" and joins["population"]["at"] == at
    assert joins["population"]["method"] in ("direct", "mixed") and joins["population"]["method_detail"]
    assert (
        joins["population_density"]["method"].startswith("ratio")
        or joins["population_density"]["method"] == "mixed"
    )


def test_items_with_a_period_one_indicator_lacks(api: httpx.Client) -> None:
    body = joined_items(api, WARDS, join="population,households", period="2024")
    households = stats_values(api, "households", "2026-01-01", "2024")
    assert all(f["properties"]["population"] is None for f in body["features"])
    assert all(
        f["properties"]["households"] == households.get(f["properties"]["code"]) for f in body["features"]
    )
    joins = {j["indicator"]: j for j in body["joins"]}
    assert joins["population"]["values"] == 0 and "2024" in joins["population"]["note"]
    assert joins["households"]["period"] == "2024" and joins["households"]["values"] == len(households) > 100
    # joined properties filter and sort like columns; paging links keep the join
    top = joined_items(api, WARDS, join="households", period="2024", sortby="-households", limit="3")
    values = [f["properties"]["households"] for f in top["features"]]
    assert values == sorted(households.values(), reverse=True)[:3]
    assert any("join=households" in link["href"] for link in top["links"] if link["rel"] == "next")


@pytest.mark.parametrize(("slug", "at", "units"), DATES)
def test_tiles_carry_the_values(api: httpx.Client, slug: str, at: str, units: int) -> None:
    path = tile_path(slug)
    plain = decode(api.get(path), slug)
    assert plain and "population" not in plain[0]
    joined = decode(api.get(path, params={"join": "population,households", "period": "2024", "at": at}), slug)
    households = stats_values(api, "households", at, "2024")
    assert len(joined) == len(plain)
    for props in joined:
        assert "population" not in props  # no 2024 value anywhere: null, which MVT leaves out
        assert props["households"] == pytest.approx(households[props["code"]])
    # the other layer's boundaries give other values for the same indicator
    assert {p["code"] for p in joined} != {p["code"] for p in decode(api.get(tile_path(
        WARDS if slug == PRE_REFORM_WARDS else PRE_REFORM_WARDS)), WARDS if slug == PRE_REFORM_WARDS else PRE_REFORM_WARDS)}  # fmt: skip


def test_tilejson_lists_the_joined_fields_and_versioned_urls(api: httpx.Client) -> None:
    doc = api.get(
        f"/tiles/{PRE_REFORM_WARDS}.json", params={"join": "population,households", "period": "2024"}
    )
    assert doc.status_code == 200, doc.text
    body = doc.json()
    fields = body["vector_layers"][0]["fields"]
    assert fields["population"] == "Number" and fields["households"] == "Number"
    url = body["tiles"][0]
    assert "/v1~s" in url and url.endswith("?join=population%2Chouseholds&period=2024")
    x, y = lonlat_to_tile(*CENTRE, 14)
    resp = api.get(url.replace("{z}/{x}/{y}", f"14/{x}/{y}"))
    assert resp.headers["cache-control"].endswith("immutable")
    assert decode(resp, PRE_REFORM_WARDS)[0]["households"] > 0
    plain = api.get(f"/tiles/{PRE_REFORM_WARDS}.json").json()
    assert "households" not in plain["vector_layers"][0]["fields"] and "~" not in plain["tiles"][0]


def test_a_new_import_changes_the_keys_and_the_values(api: httpx.Client, joins_db: str) -> None:
    params = {"join": "households", "period": "2024"}
    first = api.get(f"/tiles/{PRE_REFORM_WARDS}.json", params=params).json()["tiles"][0]
    x, y = lonlat_to_tile(*CENTRE, 14)
    props = decode(api.get(tile_path(PRE_REFORM_WARDS), params=params), PRE_REFORM_WARDS)
    code = props[0]["code"]
    with psycopg.connect(joins_db) as conn:
        editor, _ = create_token(conn, name="joins-editor", role="editor")
    posted = api.post(
        "/stats/observations", headers={"Authorization": f"Bearer {editor}"},
        data={"indicator": "households", "period": "2024", "level": "ward", "at": "2025-03-01"},
        files={"file": ("h.csv", f"unit_code,value\n{code},123456\n".encode(), "text/csv")},
    )  # fmt: skip
    assert posted.status_code == 200, posted.text
    deadline = time.monotonic() + 10
    url = first
    while url == first and time.monotonic() < deadline:
        time.sleep(0.1)
        url = api.get(f"/tiles/{PRE_REFORM_WARDS}.json", params=params).json()["tiles"][0]
    assert url != first  # a new tag: new cache keys and URLs
    after = decode(api.get(tile_path(PRE_REFORM_WARDS), params=params), PRE_REFORM_WARDS)
    assert {p["code"]: p["households"] for p in after}[code] == 123456
    stale = api.get(
        first.replace("{z}/{x}/{y}", f"14/{x}/{y}")
    )  # the old tag serves today's data, briefly cached
    assert "immutable" not in stale.headers["cache-control"]
    items = joined_items(api, PRE_REFORM_WARDS, **params, code=code)
    assert items["features"][0]["properties"]["households"] == 123456


@pytest.mark.parametrize(
    ("params", "status", "parameter"),
    [
        ({"join": "no_such_indicator"}, 404, "join"),
        (
            {
                "join": "population,households,welfare_beneficiaries,permanent_residents,temporary_residents,"
                "online_procedures"
            },
            400,
            "join",
        ),
        ({"join": "population", "period": "2024-13"}, 400, "period"),
        ({"join": "population", "period": "1990"}, 404, "period"),
        ({"join": "population", "at": "2025-03-01"}, 400, "at"),  # the 168 wards did not exist yet
        ({"join": "population", "at": "yesterday"}, 400, "at"),
        ({"join": "Population;drop"}, 400, "join"),
        ({"join": "population,population"}, 400, "join"),
        ({"period": "2019"}, 400, "period"),  # without join: an unknown parameter of items
    ],
)
def test_bad_joins_are_problems(
    api: httpx.Client, params: dict[str, str], status: int, parameter: str
) -> None:
    if "join" in params:
        assert_problem(api.get(tile_path(WARDS), params=params), status, parameter)
        assert_problem(api.get(f"/tiles/{WARDS}.json", params=params), status, parameter)
    assert_problem(api.get(f"/collections/{WARDS}/items", params=params), status, parameter)


def test_only_admin_layers_accept_joins(api: httpx.Client) -> None:
    params = {"join": "population"}
    assert_problem(api.get(f"/collections/{POINTS}/items", params=params), 400, "join")
    assert_problem(api.get(tile_path(POINTS), params=params), 400, "join")
    assert_problem(api.get(tile_path(f"{WARDS},{PRE_REFORM_WARDS}"), params=params), 400, "join")
    district = joined_items(api, DISTRICTS, join="dti_economy", period="2024", at="2025-03-01")
    assert all(f["properties"]["dti_economy"] is not None for f in district["features"])
    assert district["numberReturned"] == 22


def test_joined_values_are_bind_parameters_of_the_tile_statement() -> None:
    from gis_platform.settings import TileSettings
    from gis_platform.tiles.models import Column, JoinedAttributes, LayerVersion
    from gis_platform.tiles.queries import LayerPart, build_tile_query
    from gis_platform.tiles.rules import parse_rules, rule_for_zoom

    evil = "x'); DROP TABLE stats.observation; --"
    join = JoinedAttributes("stats", "joined", key="code", foreign_key="_unit_code", tag="s1",
                            columns=(Column("population", "population", "double"),),
                            arrays=((evil, "26734"), (1.5, None)))  # fmt: skip
    version = LayerVersion(WARDS, 1, "l1_v1", (Column("code", "code", "text"),), None, "MultiPolygon", 2, "t")
    rule = rule_for_zoom(parse_rules({}, TileSettings()), "MultiPolygon", ("code",), 12)
    query = build_tile_query([LayerPart(WARDS, version, rule, 64, joins=(join,))], 12, grid_cells=64,
                             max_features=5000)  # fmt: skip
    assert evil not in query.sql and "26734" not in query.sql
    assert 'LEFT JOIN unnest($7::text[], $8::float8[]) AS "j0"("_unit_code", "population")' in query.sql
    assert query.sql.count("unnest(") == 2  # the capped and the plain branch share the bound arrays
    assert [evil, "26734"] in query.args and [1.5, None] in query.args


def test_concurrent_tiles_of_a_new_join_compute_it_once(server: LiveServer) -> None:
    app: Any = server.server.config.app
    before = app.state.stats_joins.computed
    z = 13
    cx, cy = lonlat_to_tile(*CENTRE, z)
    paths = [f"/tiles/{WARDS}/{z}/{cx + dx}/{cy + dy}.mvt" for dx in (-1, 0, 1) for dy in (-1, 0, 1)]

    def get(path: str) -> int:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            return c.get(path, params={"join": "welfare_beneficiaries,online_procedures"}).status_code

    with ThreadPoolExecutor(len(paths)) as pool:
        assert set(pool.map(get, paths)) <= {200, 204}
    assert app.state.stats_joins.computed == before + 1
