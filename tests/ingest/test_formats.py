"""Every supported format imports, through the CLI command and through the HTTP API."""

from __future__ import annotations

import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import psycopg
import pytest
import shapely

from gis_platform.cli.ingest import app as ingest_app
from gis_platform.ingest.service import IngestProgress, import_path
from gis_platform.settings import IngestSettings
from tests.ingest import files
from tests.ingest.conftest import current_version, no_temp_files, published_layer, upload, view_count

pytestmark = pytest.mark.db

N = 5


def _geojson(tmp: Path) -> Path:
    return files.write(files.frame(N), tmp / "diem.geojson", "GeoJSON")


def _geojsonseq(tmp: Path) -> Path:
    return files.write(files.frame(N), tmp / "diem.geojsonl", "GeoJSONSeq")


def _shapefile_cp1258_vn2000(tmp: Path) -> Path:
    return files.shapefile_zip(tmp, files.frame(N), encoding="cp1258", crs=files.hcmc_tm3())


def _gpkg(tmp: Path) -> Path:
    path = tmp / "two-tables.gpkg"
    files.write(files.frame(2, seed=7), path, "GPKG", layer="khac")
    files.write(files.frame(N), path, "GPKG", layer="diem", append=False)
    return path


def _kml(tmp: Path) -> Path:
    return files.write(files.frame(N).rename(columns={"ten": "Name"}), tmp / "diem.kml", "LIBKML")


def _kmz(tmp: Path) -> Path:
    return files.write(files.frame(N).rename(columns={"ten": "Name"}), tmp / "diem.kmz", "LIBKML")


def _fgb(tmp: Path) -> Path:
    return files.write(files.frame(N), tmp / "diem.fgb", "FlatGeobuf")


def _csv(tmp: Path, lon: str = "lon", lat: str = "lat") -> Path:
    df = files.frame(N)
    lines = [f"ten,{lon},{lat},so"] + [
        f'"{t}",{p.x},{p.y},{s}' for t, p, s in zip(df["ten"], df.geometry, df["so"], strict=True)
    ]
    path = tmp / "diem.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _csv_vietnamese(tmp: Path) -> Path:
    return _csv(tmp, "Kinh độ", "Vĩ độ")


def _csv_wkt(tmp: Path) -> Path:
    df = files.frame(N)
    lines = ["ten;WKT"] + [f'"{t}";"{g.wkt}"' for t, g in zip(df["ten"], df.geometry, strict=True)]
    path = tmp / "diem-wkt.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


FORMATS: dict[str, tuple[Callable[[Path], Path], dict[str, str]]] = {
    "geojson": (_geojson, {}),
    "geojsonseq": (_geojsonseq, {}),
    "shapefile-cp1258-vn2000": (_shapefile_cp1258_vn2000, {}),
    "gpkg-table": (_gpkg, {"layer_name": "diem"}),
    "kml": (_kml, {}),
    "kmz": (_kmz, {}),
    "flatgeobuf": (_fgb, {}),
    "csv-lonlat": (_csv, {}),
    "csv-kinh-do-vi-do": (_csv_vietnamese, {}),
    "csv-wkt": (_csv_wkt, {}),
}


def _check_loaded(conn: psycopg.Connection[Any], slug: str, version: int, name_column: str = "ten") -> None:
    """The new version serves the five points at their places, with their Vietnamese names in NFC."""
    assert current_version(conn, slug) == version
    rows = conn.execute(
        f'SELECT "{name_column}", ST_X(geom), ST_Y(geom) FROM layerdata."{slug}" ORDER BY fid'  # noqa: S608
    ).fetchall()
    expected = files.frame(N)
    assert len(rows) == N
    got = sorted((r[0], round(r[1], 6), round(r[2], 6)) for r in rows)
    want = sorted(
        (t, round(p.x, 6), round(p.y, 6)) for t, p in zip(expected["ten"], expected.geometry, strict=True)
    )
    assert got == want
    assert "Phường Bến Nghé" in {r[0] for r in rows}


def _name_column(kind: str) -> str:
    return "name" if kind in ("kml", "kmz") else "ten"


@pytest.mark.parametrize("kind", list(FORMATS))
def test_format_imports_through_the_cli(
    kind: str, conn: psycopg.Connection[Any], tmp_path: Path, cli: Callable[..., Any], staging: Path
) -> None:
    slug = f"cli-{kind}"
    published_layer(conn, slug)
    build, form = FORMATS[kind]
    path = build(tmp_path)
    extra = [a for k, v in form.items() for a in (f"--{k.replace('_', '-')}", v)]
    result = cli(ingest_app, "import", path, "--layer", slug, "--publish", *extra)
    assert result.exit_code == 0, result.output
    assert "version 2 published, 5 features" in result.stdout
    _check_loaded(conn, slug, 2, _name_column(kind))
    assert no_temp_files(staging)


@pytest.mark.parametrize("kind", list(FORMATS))
def test_format_imports_through_http(
    kind: str, conn: psycopg.Connection[Any], tmp_path: Path, api: httpx.Client, api_staging: Path
) -> None:
    slug = f"http-{kind}"
    published_layer(conn, slug)
    build, form = FORMATS[kind]
    status, job, _ = upload(api, slug, build(tmp_path), publish=True, **form)
    assert status == 200, job
    assert job["status"] == "succeeded" and job["progress"] == 1.0
    assert job["version"]["version"] == 2 and job["version"]["status"] == "published"
    assert job["version"]["feature_count"] == N
    assert job["report"]["features_loaded"] == N
    _check_loaded(conn, slug, 2, _name_column(kind))
    assert no_temp_files(api_staging)
    if kind == "csv-lonlat":  # types inferred over the whole file
        columns = conn.execute(
            "SELECT v.columns FROM catalogue.layer_version v JOIN catalogue.layer l ON l.id = v.layer_id "
            "WHERE l.slug = %s AND v.version = 2", (slug,)).fetchone()  # fmt: skip
        assert columns is not None
        assert {c["name"]: c["type"] for c in columns[0]} == {"ten": "text", "lon": "double", "lat": "double",
                                                               "so": "integer"}  # fmt: skip


def test_shapefile_keeps_its_cp1258_names_and_vn2000_places(conn: psycopg.Connection[Any], tmp_path: Path,
                                                           api: httpx.Client) -> None:  # fmt: skip
    path = _shapefile_cp1258_vn2000(tmp_path)
    with zipfile.ZipFile(path) as zf:
        assert zf.read("wards.cpg").strip().upper() in (b"CP1258", b"1258")
        assert b"105.75" in zf.read("wards.prj")
        dbf = zf.read("wards.dbf")
        assert "Phường Bến Nghé".encode() not in dbf
        assert "Phường Bến Nghé" in unicodedata.normalize("NFC", dbf.decode("cp1258", errors="replace"))
    published_layer(conn, "shp-check")
    status, job, _ = upload(api, "shp-check", path, publish=True)
    assert status == 200, job
    assert job["report"]["encoding"] == "cp1258" and job["report"]["crs_from"] == "file"
    assert "105" in job["report"]["crs"]


def test_tcvn3_shapefile_declared_by_form_field(
    conn: psycopg.Connection[Any], tmp_path: Path, api: httpx.Client
) -> None:
    # the DBF holds real TCVN3 (ABC) bytes: "Phường Bến Nghé" is P h 0xAD 0xEA n g  B 0xD5 n  N g h 0xD0
    df = files.frame(1)
    folder = tmp_path / "tcvn"
    folder.mkdir()
    files.write(df.assign(ten="x" * 15), folder / "tcvn.shp", "ESRI Shapefile")
    dbf = (folder / "tcvn.dbf").read_bytes()
    (folder / "tcvn.dbf").write_bytes(dbf.replace(b"x" * 15, b"Ph\xad\xeang B\xd5n Ngh\xd0"))
    (folder / "tcvn.cpg").unlink()
    published_layer(conn, "tcvn3-layer")
    status, job, _ = upload(api, "tcvn3-layer", files.zip_dir(folder, tmp_path / "tcvn.zip"), publish=True,
                            encoding="tcvn3")  # fmt: skip
    assert status == 200, job
    assert conn.execute('SELECT ten FROM layerdata."tcvn3-layer"').fetchone() == ("Phường Bến Nghé",)


def test_cp1258_csv_declared_by_form_field(
    conn: psycopg.Connection[Any], tmp_path: Path, api: httpx.Client
) -> None:
    path = tmp_path / "cp.csv"
    path.write_bytes(
        files.to_cp1258("Tên,lon,lat\nPhường Bến Nghé,106.7,10.78\nPhường Đa Kao,106.69,10.79\n")
    )
    published_layer(conn, "cp1258-csv")
    status, job, _ = upload(api, "cp1258-csv", path, publish=True, encoding="cp1258")
    assert status == 200, job
    rows = conn.execute('SELECT ten FROM layerdata."cp1258-csv" ORDER BY fid').fetchall()
    assert rows == [("Phường Bến Nghé",), ("Phường Đa Kao",)]
    columns = conn.execute(
        "SELECT columns FROM catalogue.layer_version v JOIN catalogue.layer l ON l.id = v.layer_id "
        "WHERE l.slug = 'cp1258-csv' AND v.version = 2"
    ).fetchone()
    assert columns is not None and columns[0][0] == {"name": "ten", "original": "Tên", "type": "text"}


def test_gpkg_without_table_choice_lists_the_tables(conn: psycopg.Connection[Any], tmp_path: Path,
                                                   api: httpx.Client) -> None:  # fmt: skip
    published_layer(conn, "gpkg-choice")
    status, problem, _ = upload(api, "gpkg-choice", _gpkg(tmp_path))
    assert status == 422 and sorted(problem["layers"]) == ["diem", "khac"]
    assert problem["file"] == "two-tables.gpkg" and problem["parameter"] == "layer_name"
    assert current_version(conn, "gpkg-choice") == 1


def test_polygons_repaired_and_mixed_types_promoted(conn: psycopg.Connection[Any], tmp_path: Path,
                                                   api: httpx.Client) -> None:  # fmt: skip
    bowtie = shapely.from_wkt(
        "POLYGON((106.70 10.70, 106.71 10.71, 106.71 10.70, 106.70 10.71, 106.70 10.70))"
    )
    multi = shapely.MultiPolygon(
        [shapely.box(106.72, 10.72, 106.73, 10.73), shapely.box(106.74, 10.74, 106.75, 10.75)]
    )
    df = gpd.GeoDataFrame({"n": [1, 2, 3, 4]}, geometry=[shapely.box(106.7, 10.7, 106.71, 10.71), bowtie, multi, None],
                          crs=4326)  # fmt: skip
    published_layer(conn, "polys-repair", "MultiPolygon")
    status, job, _ = upload(
        api, "polys-repair", files.write(df, tmp_path / "p.geojson", "GeoJSON"), publish=True
    )
    assert status == 200, job
    report = job["report"]
    assert report["repaired_invalid_geometry"] == 1 and report["dropped_no_geometry"] == 1
    kinds = {(p["kind"], p["feature"]) for p in report["problems"]}
    assert kinds == {("repaired_invalid_geometry", 2), ("dropped_no_geometry", 4)}
    assert job["version"]["geometry_type"] == "MultiPolygon" and job["version"]["feature_count"] == 3
    assert view_count(conn, "polys-repair") == 3
    fids = [r[0] for r in conn.execute('SELECT fid FROM layerdata."polys-repair" ORDER BY fid').fetchall()]
    assert fids == [1, 2, 3]  # fid = the feature's number in the file


def test_a_few_features_outside_vietnam_are_dropped_and_listed(conn: psycopg.Connection[Any], tmp_path: Path,
                                                              api: httpx.Client) -> None:  # fmt: skip
    df = files.frame(10)
    df.loc[3, "geometry"] = shapely.Point(2.35, 48.85)  # Paris
    published_layer(conn, "outside-few")
    status, job, _ = upload(
        api, "outside-few", files.write(df, tmp_path / "o.geojson", "GeoJSON"), publish=True
    )
    assert status == 200, job
    assert job["report"]["dropped_outside_vietnam"] == 1
    assert [p["feature"] for p in job["report"]["problems"]] == [4]
    assert view_count(conn, "outside-few") == 9


def test_text_with_nul_characters_loads(
    conn: psycopg.Connection[Any], tmp_path: Path, api: httpx.Client
) -> None:
    # GDAL ends strings at NUL; whatever reaches the loader has none (PostgreSQL text cannot hold it)
    path = tmp_path / "nul.geojson"
    path.write_text(files.geojson_text([files.feature({"ten": "a\\u0000b"}), files.feature({"ten": "c"})]))
    published_layer(conn, "nul-bytes")
    status, job, _ = upload(api, "nul-bytes", path, publish=True)
    assert status == 200, job
    rows = conn.execute('SELECT ten FROM layerdata."nul-bytes" ORDER BY fid').fetchall()
    assert rows[1] == ("c",) and "\x00" not in rows[0][0]


def test_large_point_file_streams_in_batches(
    conn: psycopg.Connection[Any], tmp_path: Path, settings: IngestSettings, staging: Path
) -> None:
    n = 150_000
    rng = np.random.default_rng(3)
    xs, ys = rng.uniform(106.6, 106.8, n), rng.uniform(10.7, 10.9, n)
    df = gpd.GeoDataFrame({"v": np.arange(n)}, geometry=shapely.points(xs, ys), crs=4326)
    path = files.write(df, tmp_path / "big.gpkg", "GPKG")
    published_layer(conn, "big-points")
    seen: list[IngestProgress] = []
    info = import_path(
        conn, "big-points", path, author="t", publish=True, settings=settings, progress=seen.append
    )
    assert info.feature_count == n and view_count(conn, "big-points") == n
    loading = [p.rows_done for p in seen if p.stage == "loading"]
    assert loading[0] == 0 and loading[-1] == n and len(loading) >= 4  # several batches, never the whole file
    assert [p.stage for p in seen][-2:] == ["indexing", "publishing"]
    assert no_temp_files(staging)
