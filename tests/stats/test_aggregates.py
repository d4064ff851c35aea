"""Layer aggregates: counts against an independent check, lengths/areas, refresh on publish, the API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import psycopg
import pytest
import shapely

from gis_platform.auth.tokens import create_token
from gis_platform.catalogue.manifest import load_layer_set
from gis_platform.catalogue.sync import sync
from gis_platform.ingest.service import import_frame
from gis_platform.stats.aggregates.compute import aggregate
from tests.api.test_core_api import assert_problem
from tests.conftest import LiveServer
from tests.factories import ensure_layer, point_frame

pytestmark = pytest.mark.db

POINTS, LINES, HIDDEN, SCHOOLS = "agg-points", "agg-lines", "agg-hidden", "truong-hoc-pho-thong"
NEW, OLD = "hcmc-wards-2025-07-01", "hcmc-wards-2025-01-01"


def _shared_vertices(conn: psycopg.Connection[Any], version: str, n: int) -> list[tuple[float, float]]:
    """Vertices shared by two wards of ``version``: points exactly on a common border."""
    rows = conn.execute(
        """
        SELECT DISTINCT ST_X(d.geom), ST_Y(d.geom)
        FROM admin.admin_unit a JOIN admin.admin_unit b
          ON b.boundary_version = a.boundary_version AND b.level = a.level AND b.id > a.id AND a.geom && b.geom
        CROSS JOIN LATERAL ST_DumpPoints(a.geom) d
        WHERE a.boundary_version = %s AND a.level = 'ward' AND a.code IN ('26737', '26734')
          AND ST_Intersects(b.geom, d.geom)
        ORDER BY 1, 2 LIMIT %s
        """,
        (version, n),
    ).fetchall()
    return [(float(x), float(y)) for x, y in rows]


@pytest.fixture(scope="module")
def loaded(stats_db: str) -> Iterator[dict[str, Any]]:
    """A point layer (random points plus points on shared borders), a line layer, an internal layer."""
    with psycopg.connect(stats_db, autocommit=True) as conn:
        border = _shared_vertices(conn, NEW, 5)
        assert border, "no shared vertices found"
        frame = point_frame(400, seed=3)
        extra = gpd.GeoDataFrame(
            {"name": [f"biên {i}" for i in range(len(border))], "kind": ["a"] * len(border),
             "value": [1] * len(border), "score": [0.5] * len(border)},
            geometry=shapely.points(np.array(border)), crs=4326,
        )  # fmt: skip
        points = gpd.GeoDataFrame(np.concatenate([frame.values, extra.values]), columns=frame.columns)
        points = points.set_geometry("geometry").set_crs(4326)
        points["value"] = points["value"].astype("int64")
        points["score"] = points["score"].astype("float64")
        ensure_layer(conn, POINTS, "Point")
        import_frame(conn, POINTS, points, author="test", publish=True)
        lines = gpd.GeoDataFrame(
            {"name": ["a", "b", "c"]},
            geometry=[shapely.LineString([(106.60, 10.76), (106.75, 10.79)]),
                      shapely.LineString([(106.68, 10.70), (106.70, 10.85), (106.72, 10.80)]),
                      shapely.LineString([(106.69, 10.77), (106.695, 10.775)])],
            crs=4326,
        )  # fmt: skip
        ensure_layer(conn, LINES, "LineString")
        import_frame(conn, LINES, lines, author="test", publish=True)
        ensure_layer(conn, HIDDEN, "Point", visibility="internal")
        import_frame(conn, HIDDEN, point_frame(50, seed=4), author="test", publish=True)
        sync(conn, load_layer_set(), only=[SCHOOLS])
        report = aggregate(conn, None)
    yield {"points": points, "border": border, "report": report}


def _units(conn: psycopg.Connection[Any], version: str) -> gpd.GeoDataFrame:
    rows = conn.execute(
        "SELECT id, code, ST_AsBinary(geom) FROM admin.admin_unit WHERE boundary_version = %s ORDER BY id",
        (version,),
    ).fetchall()
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "code": [r[1] for r in rows]},
        geometry=shapely.from_wkb([bytes(r[2]) for r in rows]), crs=4326,
    )  # fmt: skip


def _ours(conn: psycopg.Connection[Any], slug: str, version: str) -> dict[str, int]:
    rows = conn.execute(
        """
        SELECT u.code, a.feature_count FROM stats.layer_aggregate a JOIN admin.admin_unit u ON u.id = a.unit_id
        JOIN catalogue.layer_version v ON v.id = a.layer_version_id JOIN catalogue.layer l ON l.id = v.layer_id
        WHERE l.slug = %s AND v.status = 'published' AND u.boundary_version = %s
        """,
        (slug, version),
    ).fetchall()
    return {str(c): int(n) for c, n in rows}


@pytest.mark.parametrize("version", [NEW, OLD, "hcmc-districts-2021-01-01", "hcmc-neighbourhoods-2025-07-01"])
def test_point_counts_match_geopandas(stats_db: str, loaded: dict[str, Any], version: str) -> None:
    with psycopg.connect(stats_db) as conn:
        units = _units(conn, version)
        ours = _ours(conn, POINTS, version)
    n_border = len(loaded["border"])
    inner, border = loaded["points"].iloc[:-n_border], loaded["points"].tail(n_border)
    # independent: GeoPandas (GEOS) point-in-polygon of the points that are not on a border
    joined = gpd.sjoin(inner, units, predicate="within", how="inner")
    assert joined.index.is_unique
    expected = {str(k): int(v) for k, v in joined.groupby("code").size().items()}
    # a point on a border touches two units (or more) and counts exactly once, in one of them
    touched = gpd.sjoin(border, units, predicate="intersects", how="inner")
    extra = {code: ours.get(code, 0) - expected.get(code, 0) for code in ours.keys() | expected.keys()}
    assert all(v >= 0 for v in extra.values()), extra
    assert sum(extra.values()) == touched.index.nunique()
    assert {c for c, v in extra.items() if v} <= set(touched["code"])
    if version == NEW:
        assert len(touched) >= 2 * touched.index.nunique() > 0


def test_line_lengths_match_postgis(stats_db: str, loaded: dict[str, Any]) -> None:
    with psycopg.connect(stats_db) as conn:
        expected = dict(
            conn.execute(
                f"""
                SELECT u.code, sum(ST_Length(ST_Intersection(u.geom, f.geom)::geography))
                FROM admin.admin_unit u JOIN layerdata."{LINES}" f ON ST_Intersects(u.geom, f.geom)
                WHERE u.boundary_version = %s GROUP BY u.code HAVING sum(ST_Length(ST_Intersection(u.geom, f.geom)::geography)) > 0
                """,  # noqa: S608 - a constant test slug
                (NEW,),
            ).fetchall()
        )
        ours = dict(
            conn.execute(
                """
                SELECT u.code, a.length_m FROM stats.layer_aggregate a JOIN admin.admin_unit u ON u.id = a.unit_id
                JOIN catalogue.layer_version v ON v.id = a.layer_version_id JOIN catalogue.layer l ON l.id = v.layer_id
                WHERE l.slug = %s AND u.boundary_version = %s
                """,
                (LINES, NEW),
            ).fetchall()
        )
    assert ours.keys() == expected.keys()
    for code, length in expected.items():
        assert ours[code] == pytest.approx(length, rel=1e-6, abs=0.05)  # atoms are noded on a ~1 cm grid


@pytest.fixture(scope="module")
def api(
    make_server: Callable[..., LiveServer], stats_db: str, loaded: dict[str, Any]
) -> Iterator[httpx.Client]:
    server = make_server(stats_db)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.mark.parametrize(("at", "wards"), [("2025-03-01", 273), ("2026-01-01", 168)])
def test_schools_per_10k_residents(api: httpx.Client, at: str, wards: int) -> None:
    body = api.get("/stats/aggregates", params={"layer": SCHOOLS, "level": "ward", "at": at}).json()
    assert len(body["units"]) == wards and body["level"] == "ward"
    assert body["population"]["indicator"] == "population" and body["population"]["period"]
    with_population = [u for u in body["units"] if u["population"]]
    assert len(with_population) == wards
    for u in with_population:
        assert u["per_10k_residents"] == pytest.approx(u["count"] / u["population"] * 10_000, abs=1e-6)
        assert u["per_km2"] == pytest.approx(u["count"] / u["area_km2"], abs=1e-6)
    assert body["totals"]["count"] == sum(u["count"] for u in body["units"]) > 0


def test_publish_refreshes_through_events(api: httpx.Client, stats_db: str) -> None:
    before = api.get("/stats/aggregates", params={"layer": POINTS, "at": "2026-01-01"}).json()
    with psycopg.connect(stats_db, autocommit=True) as conn:
        import_frame(conn, POINTS, point_frame(120, seed=9), author="test", publish=True)
    deadline, body = time.monotonic() + 15, before
    while time.monotonic() < deadline:
        resp = api.get("/stats/aggregates", params={"layer": POINTS, "at": "2026-01-01"})
        if resp.status_code == 200 and resp.json()["version"] == before["version"] + 1:
            body = resp.json()
            break
        time.sleep(0.2)
    assert body["version"] == before["version"] + 1, "aggregates were not refreshed within 15 s"
    with psycopg.connect(stats_db) as conn:
        inside = conn.execute(
            f"""SELECT count(*) FROM layerdata."{POINTS}" f WHERE EXISTS (SELECT 1 FROM admin.admin_unit u
                WHERE u.boundary_version = %s AND ST_Intersects(u.geom, f.geom))""",  # noqa: S608 - constant slug
            (NEW,),
        ).fetchone()
    assert inside is not None and body["totals"]["count"] == inside[0] > 100
    with psycopg.connect(stats_db) as conn:  # the superseded version's aggregates are gone
        left = conn.execute(
            "SELECT count(*) FROM stats.layer_aggregate_run r JOIN catalogue.layer_version v "
            "ON v.id = r.layer_version_id WHERE v.status <> 'published'"
        ).fetchone()
    assert left is not None and left[0] == 0


def test_profile_lists_layers(api: httpx.Client) -> None:
    body = api.get("/stats/units/26737", params={"at": "2026-01-01"}).json()
    layers = {x["layer"]: x for x in body["layers"]}
    assert SCHOOLS in layers and HIDDEN not in layers
    assert all(x["per_km2"] is not None for x in body["layers"])


def test_internal_layer_needs_a_viewer(api: httpx.Client, stats_db: str) -> None:
    assert_problem(api.get("/stats/aggregates", params={"layer": HIDDEN}), 404, "layer")
    with psycopg.connect(stats_db, autocommit=True) as conn:
        token, _ = create_token(conn, name="agg-viewer", role="viewer")
    resp = api.get(
        "/stats/aggregates", params={"layer": HIDDEN}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200 and 40 < resp.json()["totals"]["count"] <= 50
    assert_problem(api.get("/stats/aggregates", params={"layer": HIDDEN},
                           headers={"Authorization": "Bearer gis_nope"}), 401)  # fmt: skip


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"layer": "no-such-layer"}, 404),
        ({}, 422),
        ({"layer": "BAD SLUG"}, 422),
        ({"layer": POINTS, "level": "planet"}, 422),
        ({"layer": POINTS, "level": "residential_group"}, 400),
        ({"layer": POINTS, "at": "2025-13-45"}, 422),
        ({"layer": POINTS, "at": "1990-01-01"}, 404),
    ],
)
def test_bad_inputs(api: httpx.Client, params: dict[str, str], status: int) -> None:
    assert_problem(api.get("/stats/aggregates", params=params), status)
