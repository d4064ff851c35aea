"""Pure parts of ingest (no database): encodings, CRS, CSV columns, archives, reports, attributes."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import shapely

from gis_platform.ingest import encoding as enc
from gis_platform.ingest.archive import Limits, Staging, check_zip, sniff, sweep_stale
from gis_platform.ingest.attributes import AttributeConverter, ColumnPlan, Planned
from gis_platform.ingest.crs import Reprojector, bind_if_vn2000, file_crs, label, parse_crs
from gis_platform.ingest.errors import (
    ArchiveError,
    CrsError,
    EncodingError,
    IngestError,
    UnsupportedFormat,
    UploadTooLarge,
)
from gis_platform.ingest.readers import Source
from gis_platform.ingest.report import MAX_PROBLEMS, Report
from gis_platform.ingest.tabular import TabularGeometry, detect, geometries
from gis_platform.ingest.types import Column
from tests.ingest import files

TCVN3_BEN_NGHE = b"Ph\xad\xeang B\xd5n Ngh\xd0"
LIMITS = Limits(max_upload=10**7, max_uncompressed=10**8, max_ratio=100)


# --- encodings ---------------------------------------------------------------------------------------


def test_tcvn3_decodes_real_bytes() -> None:
    assert enc.decode(TCVN3_BEN_NGHE, enc.TCVN3) == "Phường Bến Nghé"
    assert enc.decode(b"\xa7\xb8 N\xb5ng", enc.TCVN3) == "Đá Nàng"
    assert enc.decode_value(TCVN3_BEN_NGHE.decode("latin-1"), enc.TCVN3) == "Phường Bến Nghé"


@pytest.mark.skipif(not shutil.which("iconv"), reason="needs glibc iconv")
def test_tcvn3_table_agrees_with_glibc_iconv() -> None:
    high = bytes(range(0x80, 0x100))
    ours = enc.decode(high, enc.TCVN3)
    theirs = subprocess.run(["iconv", "-f", "TCVN5712-1", "-t", "UTF-8"], input=high, capture_output=True,
                            check=True).stdout.decode()  # fmt: skip
    assert ours == theirs


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("UTF-8", "utf-8"), ("65001", "utf-8"), ("CP1258", "cp1258"), ("ANSI 1258", "cp1258"), ("windows-1258", "cp1258"),
     ("TCVN3", "tcvn3"), ("ABC", "tcvn3"), ("TCVN5712-1", "tcvn3"), (" ", None), (None, None)],
)  # fmt: skip
def test_encoding_names(name: str | None, canonical: str | None) -> None:
    assert enc.canonical_encoding(name) == canonical


def test_unknown_encoding_name() -> None:
    with pytest.raises(EncodingError):
        enc.canonical_encoding("klingon-8")


def test_decoding_a_column_names_the_feature_and_column() -> None:
    carried = pa.array(["abc", files.to_cp1258("Phường").decode("latin-1"), None])
    out = enc.decode_array(carried, enc.CP1258, column="Tên", first_feature=10)
    assert out.to_pylist() == ["abc", "Phường", None]
    with pytest.raises(EncodingError) as err:
        enc.decode_array(pa.array(["ok", "Phường"]), enc.CP1258, column="Tên", first_feature=10)
    assert err.value.extensions["feature"] == 11 and err.value.extensions["column"] == "Tên"
    with pytest.raises(EncodingError) as err:  # TCVN3 bytes declared cp1258
        enc.decode_array(
            pa.array([TCVN3_BEN_NGHE.decode("latin-1")]), enc.CP1258, column="ten", first_feature=1
        )
    assert "tcvn3" in err.value.detail.lower()


def test_utf8_check_guesses_the_encoding() -> None:
    bad = pa.array([b"ok", files.to_cp1258("Phường Bến Nghé")], type=pa.binary()).cast(
        pa.string(), safe=False
    )
    with pytest.raises(EncodingError) as err:
        enc.check_utf8_array(bad, column="ten", first_feature=1)
    assert err.value.extensions["feature"] == 2 and "cp1258" in err.value.detail


def test_output_is_nfc() -> None:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Phường Bến Nghé")
    out = enc.check_utf8_array(pa.array([decomposed, "x"]), column="ten", first_feature=1).to_pylist()
    assert out == ["Phường Bến Nghé", "x"] and unicodedata.is_normalized("NFC", out[0])


def test_text_file_transcoding(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_bytes(files.to_cp1258("Tên,lon,lat\nPhường Bến Nghé,106.7,10.7\n"))
    with pytest.raises(EncodingError) as err:
        enc.prepare_text_file(src, tmp_path / "u.csv", None, is_csv=True)
    assert (
        err.value.extensions == {"row": 1, "column": "Tên", "declared": "utf-8"}
        and "cp1258" in err.value.detail
    )
    path, carried = enc.prepare_text_file(src, tmp_path / "u.csv", enc.CP1258, is_csv=True)
    assert path.read_text(encoding="utf-8").startswith("Tên") and not carried
    tcvn = tmp_path / "t.csv"
    tcvn.write_bytes(b"ten,lon,lat\n" + TCVN3_BEN_NGHE + b",106.7,10.7\n")
    with pytest.raises(EncodingError) as err:
        enc.prepare_text_file(tcvn, tmp_path / "u2.csv", enc.CP1258, is_csv=True)
    assert err.value.extensions["row"] == 2 and "TCVN3" in err.value.detail
    path, _ = enc.prepare_text_file(tcvn, tmp_path / "u3.csv", enc.TCVN3, is_csv=True)
    assert "Phường Bến Nghé" in path.read_text(encoding="utf-8")


# --- CRS -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["VN2000-HCMC", "vn2000-tm3-105.75", "vn2000-tm3-105d45", "VN-2000-TPHCM"])
def test_hcmc_tm3_aliases(alias: str) -> None:
    crs = parse_crs(alias)
    assert label(crs) == "VN-2000 / TM-3 105°45'" and crs.is_bound
    out = Reprojector(crs)(np.array([shapely.Point(603701.192, 1191178.748)]))
    assert out[0].x == pytest.approx(106.7, abs=1e-6) and out[0].y == pytest.approx(10.77, abs=1e-6)


def test_epsg_codes_and_definitions() -> None:
    assert label(parse_crs("EPSG:3405")).startswith("EPSG:3405") and parse_crs("3405").is_bound
    utm49 = parse_crs("vn2000-utm49").source_crs
    assert utm49 is not None and utm49.to_epsg() == 3406
    assert Reprojector(parse_crs("4326")).identity
    assert not parse_crs("+proj=utm +zone=48 +datum=WGS84 +units=m").is_bound
    with pytest.raises(CrsError) as err:
        parse_crs("EPSG:999999")
    assert err.value.extensions["parameter"] == "crs"


def test_prj_without_towgs84_gets_the_published_vn2000_shift() -> None:
    esri = ('PROJCS["VN_2000_KTT_105_45",GEOGCS["GCS_VN_2000",DATUM["D_Vietnam_2000",SPHEROID["WGS_1984",6378137.0,'
            '298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
            'PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",105.75],'
            'PARAMETER["Scale_Factor",0.9999],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]')  # fmt: skip
    crs = file_crs(esri)
    assert crs is not None and crs.is_bound
    out = Reprojector(crs)(np.array([shapely.Point(603701.192, 1191178.748)]))
    assert out[0].x == pytest.approx(106.7, abs=1e-6)
    assert bind_if_vn2000(parse_crs("EPSG:32648")).is_bound is False


# --- CSV columns -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [(["Tên", "Kinh độ", "Vĩ độ"], TabularGeometry(lon="Kinh độ", lat="Vĩ độ")),
     (["LONGITUDE", "Latitude", "x", "y"], TabularGeometry(lon="LONGITUDE", lat="Latitude")),
     (["X", "Y"], TabularGeometry(lon="X", lat="Y")), (["kinhdo", "vido"], TabularGeometry(lon="kinhdo", lat="vido")),
     (["lng", "lat", "WKT"], TabularGeometry(wkt="WKT")), (["the_geom", "id"], TabularGeometry(wkt="the_geom"))],
)  # fmt: skip
def test_csv_geometry_columns_found_by_name(fields: list[str], expected: TabularGeometry) -> None:
    assert detect(fields, "a.csv") == expected


def test_csv_without_geometry_columns() -> None:
    with pytest.raises(IngestError) as err:
        detect(["ten", "dien_tich"], "a.csv")
    assert err.value.extensions["file"] == "a.csv"


def test_csv_coordinates_decimal_commas_and_blanks() -> None:
    batch = pa.record_batch(
        {"lon": pa.array(["106,7", None, " 106.8 "]), "lat": pa.array(["10.7", "10.8", "10.9"])}
    )
    geoms = geometries(batch, TabularGeometry(lon="lon", lat="lat"), 1, "a.csv")
    assert geoms[0].equals(shapely.Point(106.7, 10.7)) and geoms[1] is None and geoms[2].x == 106.8


# --- archives and staging ------------------------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "head", "fmt"),
    [("a.gpkg", b"SQLite format 3\x00" + bytes(100), "gpkg"), ("a.fgb", b"fgb\x03fgb\x01" + bytes(10), "flatgeobuf"),
     ("a.json", b'\xef\xbb\xbf {"type": "FeatureCollection"', "geojson"),
     ("a.json", b'{"type": "Feature", "geometry": null, "properties": {}}\n{"type": "Feature"}', "geojsonseq"),
     ("a.geojsonl", b'{"type": "Feature"}', "geojsonseq"), ("a.kml", b'<?xml version="1.0"?><kml>', "kml"),
     ("a.csv", b"lon,lat\n1,2\n", "csv")],
)  # fmt: skip
def test_sniffing(tmp_path: Path, name: str, head: bytes, fmt: str) -> None:
    path = tmp_path / name
    path.write_bytes(head)
    assert sniff(path, name, tmp_path, LIMITS).format == fmt


def test_sniffing_refuses_other_content(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(b"<gpx></gpx>")
    with pytest.raises(UnsupportedFormat):
        sniff(tmp_path / "a.xml", "a.xml", tmp_path, LIMITS)


def test_zip_checks(tmp_path: Path) -> None:
    cases = {"slip.zip": _zip({"a/../../x.csv": b"x"}), "bomb.zip": _zip({"x.csv": b"0" * 5_000_000})}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(ArchiveError):
        check_zip(tmp_path / "slip.zip", "slip.zip", LIMITS)
    with pytest.raises(UploadTooLarge):
        check_zip(tmp_path / "bomb.zip", "bomb.zip", LIMITS)
    ok = _zip({"x.csv": bytes(np.random.default_rng(1).integers(0, 255, 2_000_000, dtype=np.uint8))})
    (tmp_path / "ok.zip").write_bytes(ok)
    assert check_zip(tmp_path / "ok.zip", "ok.zip", LIMITS) == ["x.csv"]
    with pytest.raises(UploadTooLarge):
        check_zip(tmp_path / "ok.zip", "ok.zip", Limits(10**7, 1_000_000, 100))


def test_staging_is_removed_and_dead_dirs_swept(tmp_path: Path) -> None:
    with Staging(tmp_path) as staging:
        (staging.path / "f").write_text("x")
        assert sweep_stale(tmp_path) == 0  # held by this import
    assert not any(tmp_path.iterdir())
    dead = tmp_path / "gis-ingest-dead"
    dead.mkdir()
    (dead / ".lock").touch()
    assert sweep_stale(tmp_path) == 1 and not dead.exists()


# --- report and attributes -----------------------------------------------------------------------------


def test_report_lists_a_bounded_number_of_problems() -> None:
    report = Report()
    report.add_features("dropped_no_geometry", "no geometry", list(range(1, 5001)), tabular=True)
    body = report.as_json()
    assert body["dropped_no_geometry"] == 5000 and body["problems_listed"] == MAX_PROBLEMS
    assert body["problems"][0] == {
        "kind": "dropped_no_geometry",
        "message": "no geometry",
        "feature": 1,
        "row": 2,
    }


def test_nul_characters_are_stripped_and_counted(tmp_path: Path) -> None:
    from gis_platform.ingest.archive import Staged

    source = Source(staged=Staged(tmp_path / "a.gpkg", "gpkg", "a.gpkg"), path=tmp_path / "a.gpkg", layer=None,
                    fields=["ten"], crs_definition=None, feature_count=2, geometry_type="Point")  # fmt: skip
    plan = ColumnPlan([Planned("ten", Column("ten", "ten"), "text")], [], None)
    report = Report()
    table = AttributeConverter(source, plan, report).convert(pa.record_batch({"ten": ["a\x00b\x00", "c"]}), 1)
    assert table is not None and table.column("ten").to_pylist() == ["ab", "c"]
    assert report.counts["nul_bytes_stripped"] == 2 and report.problems[0]["feature"] == 1


def test_ids_shared_by_every_feature_as_zero_are_no_ids() -> None:
    from gis_platform.ingest.attributes import in_batch_duplicates

    assert in_batch_duplicates(pa.array([0, 0, 0]), 1) == {}  # ArcGIS's default Id field
    assert in_batch_duplicates(pa.array(["A", "A"]), 1) == {"A": [1, 2]}
    assert in_batch_duplicates(pa.array([1, 2, 1, None, None]), 10) == {1: [10, 12]}


def test_bytes_codecs_are_no_text_encodings() -> None:
    for name in ("zlib", "base64", "rot13"):
        with pytest.raises(EncodingError):
            enc.canonical_encoding(name)
