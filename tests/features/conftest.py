"""Layers and a live server for the features tests (one database per test module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from gis_platform.ingest.service import import_frame
from tests.factories import ensure_layer, point_frame

POINTS = "feat-points"
PARCELS = "feat-parcels"
N_POINTS = 200
N_PARCELS = 30


def points() -> gpd.GeoDataFrame:
    """200 points with typed attributes, a few nulls and awkward text."""
    frame = point_frame(N_POINTS, seed=7)
    n = len(frame)
    frame["day"] = [date(2024, 1, 1) + timedelta(days=i % 100) for i in range(n)]
    frame["seen_at"] = pd.to_datetime(
        [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(n)]
    )
    frame["active"] = [i % 2 == 0 for i in range(n)]
    frame["Tên đường"] = [f"Đường số {i % 7}" for i in range(n)]
    frame["note"] = [None if i % 10 == 0 else f'he said "hi", <b>{i}</b>\n;--' for i in range(n)]
    frame.loc[5, "value"] = 999_999
    return frame


def parcels() -> gpd.GeoDataFrame:
    """30 square parcels on a 6 by 5 grid in central HCMC."""
    cells = [(i % 6, i // 6) for i in range(N_PARCELS)]
    geoms = [
        shapely.box(106.65 + x * 0.01, 10.75 + y * 0.01, 106.659 + x * 0.01, 10.759 + y * 0.01)
        for x, y in cells
    ]
    return gpd.GeoDataFrame(
        {"code": [f"P{i:03d}" for i in range(N_PARCELS)], "area_m2": np.linspace(100, 3000, N_PARCELS)},
        geometry=geoms,
        crs=4326,
    )


def load_layers(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        ensure_layer(conn, POINTS, "Point", title_en="Feature test points")
        import_frame(conn, POINTS, points(), author="t", publish=True)
        ensure_layer(conn, PARCELS, "Polygon", title_en="Parcels")
        import_frame(conn, PARCELS, parcels(), author="t", publish=True)
        ensure_layer(conn, "feat-internal", "Point", visibility="internal")
        import_frame(conn, "feat-internal", point_frame(5), author="t", publish=True)
        ensure_layer(conn, "feat-unpublished", "Point")
        import_frame(conn, "feat-unpublished", point_frame(5), author="t", publish=False)


@pytest.fixture(scope="module")
def layers(db_url: str) -> str:
    load_layers(db_url)
    return db_url


@pytest.fixture(scope="module")
def server(make_server: Callable[..., Any], layers: str) -> Any:
    return make_server(layers)


@pytest.fixture(scope="module")
def api(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def problem(resp: httpx.Response, status: int, parameter: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 problem response and return its body."""
    assert resp.status_code == status, resp.text[:500]
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in resp.text and "layerdata" not in resp.text
    if parameter is not None:
        assert body.get("parameter") == parameter, body
    return body
