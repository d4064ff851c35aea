"""The bulk loader and atomic publish, on a real PostGIS."""

import json
import subprocess
import sys
from typing import Any

import geopandas as gpd
import psycopg
import pytest
import shapely

from gis_platform.ingest.columns import sanitise, sanitise_all
from gis_platform.ingest.loader import (
    MixedGeometryError,
    VersionConflict,
    publish_version,
    recover_abandoned_versions,
    rollback_to,
)
from gis_platform.ingest.service import import_frame
from tests.factories import ensure_layer, point_frame

pytestmark = pytest.mark.db


@pytest.fixture
def conn(db_url: str) -> Any:
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


def _view_count(conn: psycopg.Connection[Any], slug: str) -> int:
    row = conn.execute(f'SELECT count(*) FROM layerdata."{slug}"').fetchone()  # noqa: S608 - test-owned slug
    assert row is not None
    return int(row[0])


def test_import_publish_supersede_and_rollback(conn: psycopg.Connection[Any]) -> None:
    ensure_layer(conn, "loader-points")
    v1 = import_frame(conn, "loader-points", point_frame(1000), author="test", publish=True)
    assert (v1.version, v1.status, v1.feature_count) == (1, "published", 1000)
    assert v1.bbox is not None and 106.6 <= v1.bbox[0] < v1.bbox[2] <= 106.8
    assert _view_count(conn, "loader-points") == 1000

    v2 = import_frame(conn, "loader-points", point_frame(10, seed=2), author="test", publish=False)
    assert v2.status == "validated"
    assert _view_count(conn, "loader-points") == 1000  # the old version still serves
    publish_version(conn, "loader-points", 2, actor="test")
    assert _view_count(conn, "loader-points") == 10
    statuses = dict(conn.execute(
        "SELECT version, status FROM catalogue.layer_version v JOIN catalogue.layer l ON l.id = v.layer_id "
        "WHERE l.slug = 'loader-points'").fetchall())  # fmt: skip
    assert statuses == {1: "superseded", 2: "published"}

    rollback_to(conn, "loader-points", 1, actor="test")
    assert _view_count(conn, "loader-points") == 1000
    current = conn.execute(
        "SELECT current_version FROM catalogue.layer WHERE slug='loader-points'"
    ).fetchone()
    assert current == (1,)
    audit = conn.execute("SELECT action, version_before, version_after FROM catalogue.audit_log "
                         "WHERE layer_slug='loader-points' AND action <> 'load' ORDER BY id").fetchall()  # fmt: skip
    assert audit == [("publish", None, 1), ("publish", 1, 2), ("rollback", 2, 1)]

    with pytest.raises(VersionConflict):
        # version 2 is superseded now: only a rollback may bring it back
        publish_version(conn, "loader-points", 2, actor="test")


def test_table_has_typed_columns_3857_copy_and_indexes(conn: psycopg.Connection[Any]) -> None:
    ensure_layer(conn, "loader-typed")
    info = import_frame(conn, "loader-typed", point_frame(50), author="test", publish=True)
    cols = dict(conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema='layerdata' "
        "AND table_name=%s", (info.table_name,)).fetchall())  # fmt: skip
    assert cols["value"] == "bigint" and cols["score"] == "double precision" and cols["name"] == "text"
    idx = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname='layerdata' AND tablename=%s "
                       "AND indexdef LIKE '%%gist%%'", (info.table_name,)).fetchone()  # fmt: skip
    assert idx == (2,)
    row = conn.execute(
        f"SELECT ST_SRID(geom_3857), ST_X(geom_3857) FROM layerdata.{info.table_name} LIMIT 1"  # noqa: S608
    ).fetchone()
    assert row is not None and row[0] == 3857 and 1.18e7 < row[1] < 1.19e7
    names = conn.execute(
        "SELECT name FROM layerdata.\"loader-typed\" ORDER BY fid LIMIT 2").fetchall()  # fmt: skip
    assert names == [("Điểm 0",), ("Điểm 1",)]


def test_repairs_invalid_polygons_drops_empties_and_promotes_to_multi(conn: psycopg.Connection[Any]) -> None:
    ensure_layer(conn, "loader-polys", "Polygon")
    bowtie = shapely.from_wkt(
        "POLYGON((106.70 10.70, 106.71 10.71, 106.71 10.70, 106.70 10.71, 106.70 10.70))"
    )
    square = shapely.box(106.7, 10.7, 106.71, 10.71)
    multi = shapely.MultiPolygon(
        [shapely.box(106.72, 10.72, 106.73, 10.73), shapely.box(106.74, 10.74, 106.75, 10.75)]
    )
    frame = gpd.GeoDataFrame({"n": [1, 2, 3, 4]}, geometry=[bowtie, square, multi, None], crs=4326)
    info = import_frame(conn, "loader-polys", frame, author="test", publish=True)
    assert info.feature_count == 3
    assert info.report["repaired"] == 1 and info.report["dropped_empty"] == 1
    assert (
        info.geometry_type == "MultiPolygon" and info.report["promoted_to_multi"] == 1
    )  # the repaired bow-tie is already Multi
    valid = conn.execute('SELECT bool_and(ST_IsValid(geom)) FROM layerdata."loader-polys"').fetchone()
    assert valid == (True,)


def test_mixed_families_fail_and_leave_the_published_version(conn: psycopg.Connection[Any]) -> None:
    ensure_layer(conn, "loader-mixed")
    import_frame(conn, "loader-mixed", point_frame(5), author="test", publish=True)
    frame = gpd.GeoDataFrame(
        {"n": [1, 2]}, geometry=[shapely.Point(106.7, 10.7), shapely.box(106, 10, 107, 11)], crs=4326
    )
    with pytest.raises(MixedGeometryError):
        import_frame(conn, "loader-mixed", frame, author="test", publish=True)
    rows = conn.execute(
        "SELECT v.version, v.status, to_regclass('layerdata.' || v.table_name) IS NOT NULL FROM catalogue.layer_version v "
        "JOIN catalogue.layer l ON l.id = v.layer_id WHERE l.slug = 'loader-mixed' ORDER BY 1").fetchall()  # fmt: skip
    assert rows == [(1, "published", True), (2, "failed", False)]
    assert _view_count(conn, "loader-mixed") == 5


KILLED_LOADER = """
import os, signal, sys
import psycopg
from gis_platform.ingest.loader import VersionWriter
from gis_platform.ingest.types import Column
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    with VersionWriter(conn, sys.argv[2], [Column("a", "a")], author="test") as w:
        print(w.info.table_name, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_loader_leaves_no_version_and_is_recovered(
    conn: psycopg.Connection[Any], db_url: str
) -> None:
    ensure_layer(conn, "loader-killed")
    import_frame(conn, "loader-killed", point_frame(3), author="test", publish=True)
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_LOADER, db_url, "loader-killed"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr
    table = proc.stdout.strip()
    status = conn.execute(
        "SELECT status FROM catalogue.layer_version WHERE table_name=%s", (table,)
    ).fetchone()
    assert status == ("loading",)
    recovered = recover_abandoned_versions(conn)
    assert len(recovered) == 1
    row = conn.execute("SELECT status, to_regclass('layerdata.' || table_name) FROM catalogue.layer_version "
                       "WHERE table_name=%s", (table,)).fetchone()  # fmt: skip
    assert row == ("failed", None)
    assert _view_count(conn, "loader-killed") == 3


def test_a_live_loader_is_not_recovered(conn: psycopg.Connection[Any], db_url: str) -> None:
    from gis_platform.ingest.loader import VersionWriter
    from gis_platform.ingest.types import Column

    ensure_layer(conn, "loader-live")
    with (
        psycopg.connect(db_url, autocommit=True) as other,
        VersionWriter(other, "loader-live", [Column("a", "a")], author="t") as w,
    ):
        assert w.info is not None
        # other tests' dead loaders may be recovered here too; the live one never is
        assert (w.info.layer_id, w.info.version) not in recover_abandoned_versions(conn)
        status = conn.execute(
            "SELECT status FROM catalogue.layer_version WHERE id = %s", (w.info.version_id,)
        )
        assert status.fetchone() == ("loading",)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [("Tên đường", "ten_duong"), ("select", "select_"), ('a"; DROP TABLE x;--', "a_drop_table_x"),
     ("1st", "c_1st"), ("fid", "fid_"), ("", "field"), ("GEOM", "geom_"), ("x" * 100, "x" * 59)],
)  # fmt: skip
def test_sanitise(raw: str, safe: str) -> None:
    assert sanitise(raw) == safe


def test_sanitise_all_dedupes() -> None:
    assert [s for s, _ in sanitise_all(["Name", "name", "NAME"])] == ["name", "name_2", "name_3"]
    assert json.dumps(sanitise_all(["Tên"]), ensure_ascii=False) == '[["ten", "Tên"]]'
