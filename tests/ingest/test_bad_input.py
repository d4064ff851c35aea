"""Bad uploads (coordinates, CRS, encodings, columns, ids, tokens): each answers a 4xx problem naming the file,
row, feature or column; nothing is published, the previous version still serves, no staged file is left."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely

from tests.conftest import LiveServer
from tests.ingest import files
from tests.ingest.bad import GOOD_GEOJSON, GOOD_ROWS, PROBLEM, csv_bytes, include_router, rejected, zipped
from tests.ingest.conftest import make_token, no_temp_files, published_layer, upload

pytestmark = pytest.mark.db


# --- coordinates ---------------------------------------------------------------------------------------


def test_csv_non_numeric_coordinate(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, csv_bytes([*GOOD_ROWS, "c,abc,10.79"]), "diem.csv")
    rejected(conn, api_staging, layer, result, 422, file="diem.csv", row=4, feature=3, column="lon")


def test_csv_nan_coordinate(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, csv_bytes([*GOOD_ROWS, "c,106.7,NaN"]), "diem.csv")
    problem = rejected(conn, api_staging, layer, result, 422, file="diem.csv", row=4, feature=3)
    assert "NaN" in problem["detail"]


def test_csv_infinite_coordinate(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, csv_bytes(["a,inf,10.7", *GOOD_ROWS]), "diem.csv")
    problem = rejected(conn, api_staging, layer, result, 422, file="diem.csv", row=2, feature=1)
    assert "infinite" in problem["detail"]


def test_csv_swapped_lat_lon(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, csv_bytes(["a,10.77,106.70", "b,10.78,106.71"]), "swapped.csv")
    problem = rejected(conn, api_staging, layer, result, 422, file="swapped.csv", row=2, feature=1)
    assert problem["problem"] == "swapped" and "swapped" in problem["detail"]


def test_out_of_range_coordinates(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    text = files.geojson_text(
        [files.feature({"ten": "a"}), files.feature({"ten": "b"}, coords=(206.7, 10.7))]
    )
    result = upload(api, layer, text.encode(), "range.geojson")
    problem = rejected(conn, api_staging, layer, result, 422, file="range.geojson", feature=2)
    assert problem["problem"] == "out-of-range"


def test_csv_projected_coordinates_without_crs(
    conn: Any, api: httpx.Client, api_staging: Path, layer: str
) -> None:
    result = upload(api, layer, csv_bytes(["a,603701.2,1191178.7"], header="ten,x,y"), "tm3.csv")
    problem = rejected(conn, api_staging, layer, result, 422, file="tm3.csv", row=2)
    assert problem["type"] == "/problems/invalid-crs" and "CRS" in problem["detail"]


def test_unknown_crs(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, csv_bytes(GOOD_ROWS), "diem.csv", crs="EPSG:999999")
    problem = rejected(conn, api_staging, layer, result, 422, file="diem.csv", parameter="crs")
    assert problem["type"] == "/problems/invalid-crs"


def test_wrong_crs_puts_most_features_outside_vietnam(
    conn: Any, api: httpx.Client, api_staging: Path, layer: str
) -> None:
    # lon/lat degrees declared as VN-2000 metres: every point lands near the false origin, far from Vietnam
    result = upload(api, layer, csv_bytes(GOOD_ROWS), "diem.csv", crs="VN2000-HCMC")
    problem = rejected(conn, api_staging, layer, result, 422, file="diem.csv", features=[1, 2])
    assert "VN-2000 / TM-3 105°45'" in problem["crs"] and "outside Vietnam" in problem["detail"]


def test_geometry_with_ten_million_vertices(
    conn: Any, make_server: Callable[..., LiveServer], db_url: str, editor_token: str, api_staging: Path,
    layer: str, tmp_path: Path,
) -> None:  # fmt: skip
    n = 10_000_000
    coords = np.empty((n, 2))
    coords[:, 0] = 106.70 + (np.arange(n) % 2) * 0.001
    coords[:, 1] = 10.77
    line = shapely.linestrings(coords)
    path = files.write(gpd.GeoDataFrame({"ten": ["a", "b"]}, geometry=[shapely.Point(106.7, 10.7), line], crs=4326),
                       tmp_path / "huge.fgb", "FlatGeobuf", SPATIAL_INDEX="NO")  # fmt: skip
    body = zipped({"huge.fgb": path.read_bytes()}, level=1)
    lenient = make_server(db_url, app_hook=include_router, ingest={
        "staging_dir": api_staging, "max_compression_ratio": 100_000, "max_uncompressed_mb": 400})  # fmt: skip
    with httpx.Client(
        base_url=lenient.url, headers={"Authorization": f"Bearer {editor_token}"}, timeout=60
    ) as c:
        result = upload(c, layer, body, "huge.zip")
    problem = rejected(conn, api_staging, layer, result, 422, file="huge.zip/huge.fgb", feature=2)
    assert "10,000,000 vertices" in problem["detail"]


def test_geometry_type_the_layer_does_not_hold(
    conn: Any, api: httpx.Client, api_staging: Path, layer: str, tmp_path: Path
) -> None:
    path = files.write(files.polygons(2), tmp_path / "polys.geojson", "GeoJSON")
    problem = rejected(
        conn, api_staging, layer, upload(api, layer, path), 422, file="polys.geojson", feature=1
    )
    assert problem["expected"] == "Point" and problem["found"] == "Polygon"


# --- encodings -------------------------------------------------------------------------------------------


def test_undeclared_cp1258_csv(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    data = files.to_cp1258("Tên,lon,lat\nPhường Bến Nghé,106.7,10.78\n")
    problem = rejected(
        conn, api_staging, layer, upload(api, layer, data, "cp.csv"), 422, file="cp.csv", row=1
    )
    assert "cp1258" in problem["detail"] and problem["type"] == "/problems/invalid-encoding"


def test_utf8_file_declared_cp1258(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    data = "ten,lon,lat\nPhường Bến Nghé,106.7,10.78\n".encode()
    result = upload(api, layer, data, "utf8.csv", encoding="cp1258")
    problem = rejected(conn, api_staging, layer, result, 422, file="utf8.csv", column="ten", feature=1)
    assert "already Unicode" in problem["detail"]


def test_shapefile_cpg_says_utf8_but_dbf_is_cp1258(
    conn: Any, api: httpx.Client, api_staging: Path, layer: str, tmp_path: Path
) -> None:
    folder = tmp_path / "lie"
    folder.mkdir()
    files.write(files.frame(3), folder / "lie.shp", "ESRI Shapefile", encoding="cp1258")
    (folder / "lie.cpg").write_text("UTF-8")
    path = files.zip_dir(folder, tmp_path / "lie.zip")
    result = upload(api, layer, path)
    problem = rejected(conn, api_staging, layer, result, 422, file="lie.zip/lie.shp", column="ten", feature=1)
    assert "cp1258" in problem["detail"]


def test_unknown_encoding_name(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, csv_bytes(GOOD_ROWS), "diem.csv", encoding="klingon-8")
    rejected(conn, api_staging, layer, result, 422, file="diem.csv", parameter="encoding")


# --- columns and ids ------------------------------------------------------------------------------------


def test_ten_thousand_columns(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    header = "lon,lat," + ",".join(f"c{i}" for i in range(10_000))
    row = "106.7,10.77," + ",".join("1" for _ in range(10_000))
    problem = rejected(conn, api_staging, layer, upload(api, layer, csv_bytes([row], header), "wide.csv"), 422,
                       file="wide.csv")  # fmt: skip
    assert problem["columns"] == 10_002 and problem["limit"] == 1000


def test_duplicated_feature_ids(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    result = upload(api, layer, csv_bytes(["1,a,106.7,10.77", "2,b,106.7,10.78", "1,c,106.7,10.79"],
                                          header="id,ten,lon,lat"), "ids.csv")  # fmt: skip
    problem = rejected(conn, api_staging, layer, result, 422, file="ids.csv", column="id", features=[1, 3])
    assert problem["problem"] == "duplicate-id"


def test_duplicated_geojson_string_ids(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    text = files.geojson_text([files.feature({"n": 1}, fid="A-1"), files.feature({"n": 2}, fid="A-1")])
    result = upload(api, layer, text.encode(), "ids.geojson")
    rejected(conn, api_staging, layer, result, 422, file="ids.geojson", features=[1, 2])


def test_duplicated_geojson_integer_ids(conn: Any, api: httpx.Client, api_staging: Path, layer: str) -> None:
    text = files.geojson_text([files.feature({"n": i}, fid=7 if i != 1 else 1) for i in range(1, 4)])
    problem = rejected(conn, api_staging, layer, upload(api, layer, text.encode(), "ids.geojson"), 422,
                       file="ids.geojson")  # fmt: skip
    assert "'7'" in problem["detail"]


def test_column_names_that_are_sql_keywords_or_hold_quotes_succeed(
    conn: Any, api: httpx.Client, api_staging: Path
) -> None:
    published_layer(conn, "bad-sql-names")
    props = {
        "select": 1,
        "from": "x",
        'a"; DROP TABLE catalogue.layer;--': "y",
        "Tên đường": "Lê Lợi",
        "geom": 2,
    }
    text = files.geojson_text([files.feature(props)])
    status, job, _ = upload(api, "bad-sql-names", text.encode(), "names.geojson", publish=True)
    assert status == 200, job
    columns = conn.execute(
        "SELECT v.columns FROM catalogue.layer_version v JOIN catalogue.layer l ON l.id = v.layer_id "
        "WHERE l.slug = 'bad-sql-names' AND v.version = 2"
    ).fetchone()
    assert columns is not None
    assert [(c["name"], c["original"]) for c in columns[0]] == [
        ("select_", "select"), ("from_", "from"), ("a_drop_table_catalogue_layer", 'a"; DROP TABLE catalogue.layer;--'),
        ("ten_duong", "Tên đường"), ("geom_", "geom"),
    ]  # fmt: skip
    row = conn.execute('SELECT select_, from_, ten_duong FROM layerdata."bad-sql-names"').fetchone()
    assert row == (1, "x", "Lê Lợi")
    assert conn.execute("SELECT count(*) FROM catalogue.layer").fetchone() != (0,)
    assert no_temp_files(api_staging)


# --- found by the job, after the first batch ------------------------------------------------------------


def test_bad_coordinate_deep_in_the_file_fails_the_job(
    conn: Any, api: httpx.Client, api_staging: Path, layer: str
) -> None:
    rows = [f"p{i},106.{i % 900 + 100},10.77" for i in range(1500)]
    rows[1200] = "bad,106.7,oops"
    _, problem, response = result = upload(api, layer, csv_bytes(rows), "deep.csv", publish=True)
    assert response.status_code == 202  # the first rows were fine: the job found it
    rejected(conn, api_staging, layer, result, 422, file="deep.csv", row=1202, feature=1201, column="lat")
    job = problem["job"]
    assert job["status"] == "failed" and job["version"]["status"] == "failed"
    assert conn.execute(
        "SELECT to_regclass('layerdata.' || table_name) FROM catalogue.layer_version WHERE status = 'failed' "
        "AND layer_id = (SELECT id FROM catalogue.layer WHERE slug = %s)", (layer,)
    ).fetchone() == (None,)  # fmt: skip


def test_duplicate_ids_across_batches_fail_the_job(
    conn: Any, api: httpx.Client, api_staging: Path, layer: str
) -> None:
    rows = [f"{i},p{i},106.7,10.77" for i in range(1, 1501)]
    rows[1400] = "5,dup,106.7,10.77"
    result = upload(api, layer, csv_bytes(rows, header="ma_id,ten,lon,lat"), "ids.csv", publish=True)
    assert result[2].status_code == 202
    rejected(conn, api_staging, layer, result, 422, file="ids.csv", column="ma_id", features=[5, 1401])


# --- who may upload ---------------------------------------------------------------------------------------


def test_missing_token(conn: Any, server: LiveServer, api_staging: Path, layer: str) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        result = upload(anonymous, layer, GOOD_GEOJSON, "a.geojson")
    rejected(conn, api_staging, layer, result, 401)
    assert result[2].headers["www-authenticate"].startswith("Bearer")


def test_revoked_or_unknown_token(conn: Any, server: LiveServer, api_staging: Path, layer: str) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer gis_not-a-token"}) as c:
        rejected(conn, api_staging, layer, upload(c, layer, GOOD_GEOJSON, "a.geojson"), 401)


def test_viewer_token_is_forbidden(conn: Any, server: LiveServer, api_staging: Path, layer: str) -> None:
    token = make_token(conn, "viewer")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as viewer:
        problem = rejected(conn, api_staging, layer, upload(viewer, layer, GOOD_GEOJSON, "a.geojson"), 403)
    assert "editor" in problem["detail"]


def test_unknown_layer(conn: Any, api: httpx.Client, api_staging: Path) -> None:
    code, _, response = upload(api, "no-such-layer", GOOD_GEOJSON, "a.geojson")
    assert code == 404 and response.headers["content-type"] == PROBLEM
    assert no_temp_files(api_staging)
