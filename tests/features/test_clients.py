"""Real OGC clients against the live server: GDAL's OAPIF driver, OWSLib, GeoPandas."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
import shapely
from owslib.ogcapi.features import Features

from tests.features.conftest import N_PARCELS, N_POINTS, PARCELS, POINTS, points

pytestmark = [
    pytest.mark.db,
    pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is not installed"),
]


def run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_ogrinfo_lists_collections_and_reads_with_a_spatial_filter(server: Any) -> None:
    listing = run("ogrinfo", "-ro", "-q", f"OAPIF:{server.url}")
    assert POINTS in listing and PARCELS in listing and "feat-internal" not in listing
    box = (106.65, 10.72, 106.72, 10.8)
    out = run(
        "ogrinfo", "-ro", "-al", "-q", "-spat", *map(str, box), f"OAPIF:{server.url}/collections/{POINTS}"
    )
    expected = sum(shapely.box(*box).intersects(g) for g in points().geometry)
    assert 0 < expected < N_POINTS
    assert out.count("OGRFeature(") == expected
    assert "Đường số" in out


def test_ogr2ogr_copies_a_collection_to_geopackage(server: Any, tmp_path: Path) -> None:
    for slug, count in ((POINTS, N_POINTS), (PARCELS, N_PARCELS)):
        target = tmp_path / f"{slug}.gpkg"
        run("ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{server.url}/collections/{slug}")
        info = pyogrio.read_info(target)
        assert info["features"] == count


def test_ogrinfo_attribute_filter_goes_through_cql2(server: Any) -> None:
    out = run(
        "ogrinfo", "-ro", "-al", "-q", "-where", "value = 999999", f"OAPIF:{server.url}/collections/{POINTS}"
    )
    assert out.count("OGRFeature(") == 1


def test_owslib_features(server: Any) -> None:
    api = Features(server.url)
    ids = {c["id"] for c in api.collections()["collections"]}
    assert {POINTS, PARCELS} <= ids
    assert api.collection(POINTS)["id"] == POINTS
    queryables = api.collection_queryables(POINTS)
    assert queryables["properties"]["value"]["type"] == "integer"
    items = api.collection_items(POINTS, limit=5, bbox=[106.6, 10.7, 106.8, 10.85])
    assert items["numberReturned"] == 5 and len(items["features"]) == 5
    one = api.collection_item(POINTS, "6")
    assert one["properties"]["value"] == 999_999
    filtered = api.collection_items(POINTS, kind="a", limit=1000)
    assert all(f["properties"]["kind"] == "a" for f in filtered["features"]) and filtered["features"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]


def test_geopandas_reads_an_items_url(server: Any) -> None:
    frame = gpd.read_file(
        f"{server.url}/collections/{POINTS}/items?limit=50&sortby=-value&properties=name,value"
    )
    assert len(frame) == 50 and frame.crs.to_epsg() == 4326
    assert frame["value"].iloc[0] == 999_999 and list(frame["value"]) == sorted(frame["value"], reverse=True)
    parcels = gpd.read_file(f"{server.url}/collections/{PARCELS}/items?limit=100")
    assert len(parcels) == N_PARCELS and parcels.geometry.iloc[0].geom_type == "Polygon"
