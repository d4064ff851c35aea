"""Whole-layer downloads: GeoJSON and CSV streamed from SQL, GeoPackage and Shapefile via pyogrio."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from pathlib import Path

import httpx
import pyogrio
import pytest

from tests.features.conftest import N_PARCELS, N_POINTS, PARCELS, POINTS, problem

pytestmark = pytest.mark.db

DOWNLOAD = f"/collections/{POINTS}/download"


def leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("gis-download-*")}


def test_geojson_download_is_streamed(api: httpx.Client) -> None:
    with api.stream("GET", DOWNLOAD) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("application/geo+json")
        assert resp.headers["transfer-encoding"] == "chunked" and "content-length" not in resp.headers
        assert resp.headers["content-disposition"] == f'attachment; filename="{POINTS}.geojson"'
        body = httpx.Response(200, content=resp.read()).json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == N_POINTS
    assert sorted(f["id"] for f in body["features"]) == list(range(1, N_POINTS + 1))


def test_csv_download(api: httpx.Client) -> None:
    resp = api.get(DOWNLOAD, params={"f": "csv"})
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == N_POINTS and rows[0]["wkt"].startswith("POINT(")


@pytest.mark.parametrize(("fmt", "count", "slug"), [("gpkg", N_POINTS, POINTS), ("shp", N_PARCELS, PARCELS)])
def test_file_downloads(api: httpx.Client, tmp_path: Path, fmt: str, count: int, slug: str) -> None:
    before = leftovers()
    resp = api.get(
        f"/collections/{slug}/download", params={"f": fmt}, headers={"Accept-Encoding": "identity"}
    )
    assert resp.status_code == 200, resp.text[:300]
    assert int(resp.headers["content-length"]) == len(resp.content)
    target = tmp_path / f"{slug}.{fmt}"
    target.write_bytes(resp.content)
    if fmt == "shp":
        assert resp.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(target) as archive:
            assert {n.rsplit(".", 1)[1] for n in archive.namelist()} >= {"shp", "shx", "dbf", "prj", "cpg"}
            archive.extractall(tmp_path)
        target = tmp_path / f"{slug}.shp"
    frame = pyogrio.read_dataframe(target)
    assert len(frame) == count and frame.crs.to_epsg() == 4326
    if fmt == "gpkg":
        assert {"fid", "name", "value", "day", "seen_at", "active", "ten_duong"} <= set(frame.columns) | {
            "fid"
        }
        assert "Đường số" in frame["ten_duong"].iloc[0]
        assert frame.geometry.iloc[0].geom_type == "Point"
    else:
        assert frame.geometry.iloc[0].geom_type == "Polygon"
    assert leftovers() <= before


def test_download_rejects_unknown_formats(api: httpx.Client) -> None:
    problem(api.get(DOWNLOAD, params={"f": "kml"}), 400, "f")
    problem(api.get(DOWNLOAD, params={"limit": "5"}), 400, "limit")
