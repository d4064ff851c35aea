"""Bad uploads (archives, sizes, formats): each answers a 4xx problem naming the file; nothing is published,
the previous version still serves, and no staged file is left behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import LiveServer
from tests.ingest import files
from tests.ingest.bad import GOOD_GEOJSON, csv_bytes, include_router, rejected, zipped
from tests.ingest.conftest import upload

pytestmark = pytest.mark.db


# --- archives ---------------------------------------------------------------------------------------


def test_corrupt_archive(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, b"PK\x03\x04" + bytes(range(256)) * 20, "data.zip")
    rejected(conn, api_staging, layer, result, 422, file="data.zip")


def test_truncated_archive(
    conn: Any, api: httpx.Client, api_staging: Path, layer: str, tmp_path: Path
) -> None:
    whole = files.shapefile_zip(tmp_path, files.frame(50)).read_bytes()
    result = upload(api, layer, whole[: len(whole) // 2], "wards.zip")
    problem = rejected(conn, api_staging, layer, result, 422, file="wards.zip")
    assert "corrupt or truncated" in problem["detail"]


def test_zip_slip_relative(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, zipped({"../../evil.geojson": GOOD_GEOJSON}), "slip.zip")
    problem = rejected(conn, api_staging, layer, result, 422, file="slip.zip", member="../../evil.geojson")
    assert "zip slip" in problem["detail"]
    assert not (api_staging.parent / "evil.geojson").exists()


def test_zip_slip_absolute(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, zipped({"/tmp/evil.geojson": GOOD_GEOJSON}), "abs.zip")
    rejected(conn, api_staging, layer, result, 422, file="abs.zip", member="/tmp/evil.geojson")


def test_zip_bomb_by_ratio(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    bomb = zipped({"points.geojson": b" " * (40 * 1024 * 1024)})  # 40 MB of spaces in ~40 KB
    assert len(bomb) < 100_000
    problem = rejected(conn, api_staging, layer, upload(api, layer, bomb, "bomb.zip"), 413, file="bomb.zip")
    assert "zip bomb" in problem["detail"] and problem["member"] == "points.geojson"


def test_zip_bomb_by_total_size(
    conn: Any,
    make_server: Callable[..., LiveServer],
    db_url: str,
    editor_token: str,
    api_staging: Path,
    layer: str,
) -> None:
    small = make_server(
        db_url, app_hook=include_router, ingest={"staging_dir": api_staging, "max_uncompressed_mb": 1}
    )
    rng = np.random.default_rng(1)
    members = {f"part{i}.csv": rng.integers(0, 10, 400_000).astype(np.uint8).tobytes() for i in range(4)}
    with httpx.Client(
        base_url=small.url, headers={"Authorization": f"Bearer {editor_token}"}, timeout=60
    ) as c:
        problem = rejected(
            conn, api_staging, layer, upload(c, layer, zipped(members), "big.zip"), 413, file="big.zip"
        )
    assert "expands to" in problem["detail"]


def test_nested_archive(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    inner = zipped({"a.geojson": GOOD_GEOJSON})
    result = upload(api, layer, zipped({"inner.zip": inner}), "outer.zip")
    rejected(conn, api_staging, layer, result, 415, file="outer.zip")


def test_shapefile_missing_shx(
    conn: Any, api: httpx.Client, api_staging: Path, layer: str, tmp_path: Path
) -> None:
    path = files.shapefile_zip(tmp_path, files.frame(3), skip=(".shx",))
    problem = rejected(
        conn, api_staging, layer, upload(api, layer, path), 422, file="wards.zip", member="wards.shp"
    )
    assert problem["missing"] == [".shx"] and ".shx" in problem["detail"]


def test_shapefile_missing_dbf(
    conn: Any, api: httpx.Client, api_staging: Path, layer: str, tmp_path: Path
) -> None:
    path = files.shapefile_zip(tmp_path, files.frame(3), skip=(".dbf",))
    problem = rejected(conn, api_staging, layer, upload(api, layer, path), 422, file="wards.zip")
    assert problem["missing"] == [".dbf"]


def test_shapefile_without_prj_asks_for_the_crs(
    conn: Any, api: httpx.Client, api_staging: Path, layer: str, tmp_path: Path
) -> None:
    path = files.shapefile_zip(tmp_path, files.frame(3), skip=(".prj",))
    problem = rejected(conn, api_staging, layer, upload(api, layer, path), 422, file="wards.zip/wards.shp")
    assert problem["parameter"] == "crs" and ".prj" in problem["detail"]


# --- size, format, emptiness -----------------------------------------------------------------------------


def test_over_the_upload_limit(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, b"{" + b" " * (5 * 1024 * 1024), "huge.geojson")
    problem = rejected(conn, api_staging, layer, result, 413)
    assert problem["limit_mb"] == 4


def test_unsupported_format(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    rejected(conn, api_staging, layer, upload(api, layer, png, "map.png"), 415, file="map.png")


def test_lone_shp_file(conn: Any, api: httpx.Client, api_staging: Path, layer: str, tmp_path: Path) -> None:
    files.write(files.frame(2), tmp_path / "lone.shp", "ESRI Shapefile")
    problem = rejected(
        conn, api_staging, layer, upload(api, layer, tmp_path / "lone.shp"), 415, file="lone.shp"
    )
    assert ".zip" in problem["detail"]


def test_empty_file(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    problem = rejected(
        conn, api_staging, layer, upload(api, layer, b"", "empty.geojson"), 422, file="empty.geojson"
    )
    assert "empty" in problem["detail"]


def test_truncated_geojson(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, GOOD_GEOJSON[:-20], "cut.geojson")
    rejected(conn, api_staging, layer, result, 422, file="cut.geojson")


def test_no_geometry(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    text = files.geojson_text(
        [files.feature({"ten": "a"}, coords=None), files.feature({"ten": "b"}, coords=None)]
    )
    problem = rejected(conn, api_staging, layer, upload(api, layer, text.encode(), "nogeom.geojson"), 422,
                       file="nogeom.geojson")  # fmt: skip
    assert "geometry" in problem["detail"]


def test_csv_without_coordinate_columns(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, csv_bytes(["a,1,2"], header="ten,so,dien_tich"), "nocoords.csv")
    problem = rejected(conn, api_staging, layer, result, 422, file="nocoords.csv")
    assert "lon/lat" in problem["detail"]
