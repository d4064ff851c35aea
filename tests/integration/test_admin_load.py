from typing import Any

import psycopg
import pytest
import shapely
from pyproj import Geod

from gis_platform.admin.loader import load_hcmc
from tests.conftest import SOURCES

pytestmark = pytest.mark.db


def _one(url: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def _count_at(url: str, level: str, day: str) -> int:
    return int(
        _one(
            url,
            "SELECT count(*) FROM admin.admin_unit WHERE level = %s AND valid_from <= %s::date "
            "AND (valid_to IS NULL OR %s::date <= valid_to)",
            level,
            day,
            day,
        )
    )


def test_unit_counts_on_both_sides_of_the_reform(db_url: str) -> None:
    assert _count_at(db_url, "ward", "2026-01-01") == 168
    assert _count_at(db_url, "ward", "2025-03-01") == 273
    assert _count_at(db_url, "district", "2025-03-01") == 22
    assert _count_at(db_url, "district", "2026-01-01") == 0
    assert _count_at(db_url, "city", "2025-03-01") == 1
    assert _count_at(db_url, "city", "2026-01-01") == 1
    # the old wards have no open polygons; every new ward and district has one
    assert _one(db_url, "SELECT count(*) FROM admin.admin_unit WHERE level='ward' AND valid_to IS NULL "
                "AND geom IS NOT NULL") == 168  # fmt: skip
    assert _one(db_url, "SELECT count(*) FROM admin.admin_unit WHERE valid_to = '2025-06-30' AND level='ward' "
                "AND geom IS NULL") == 273  # fmt: skip


def test_names_parents_and_reused_codes(db_url: str) -> None:
    # 25747 is Thủ Dầu Một after the reform and Phú Cường (Bình Dương) before; only the new one is in HCMC
    row = _one(db_url, "SELECT name_vi, name_ascii, name_en, unit_type, parent_code FROM admin.admin_unit "
               "WHERE code='25747' AND valid_to IS NULL")  # fmt: skip
    assert row == ("Thủ Dầu Một", "thu dau mot", "Thu Dau Mot", "Phường", "79")
    da_kao = _one(db_url, "SELECT u.full_name_vi, p.full_name_vi FROM admin.admin_unit u "
                  "JOIN admin.admin_unit p ON p.id = u.parent_id WHERE u.code='26737' AND u.level='ward' AND u.valid_to IS NOT NULL")  # fmt: skip
    assert da_kao == ("Phường Đa Kao", "Quận 1")
    # every unit below the city has a linked parent
    assert (
        _one(db_url, "SELECT count(*) FROM admin.admin_unit WHERE level <> 'city' AND parent_id IS NULL") == 0
    )
    # numeric ward names keep their type so a list is readable
    assert _one(db_url, "SELECT count(*) FROM admin.admin_unit WHERE name_vi ~ '^[0-9]+$'") == 0


def test_areas_are_ellipsoidal_and_match_pyproj(db_url: str) -> None:
    geod = Geod(ellps="WGS84")
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT code, ST_AsBinary(geom), area_km2 FROM admin.admin_unit WHERE geom IS NOT NULL"
        ).fetchall()
    assert len(rows) == 168 + 22 + 2
    for code, wkb, area_km2 in rows:
        expected = abs(geod.geometry_area_perimeter(shapely.from_wkb(bytes(wkb)))[0]) / 1e6
        assert area_km2 == pytest.approx(expected, rel=1e-3), code
    total = _one(db_url, "SELECT sum(area_km2), sum(area_km2_official) FROM admin.admin_unit "
                 "WHERE level='ward' AND valid_to IS NULL")  # fmt: skip
    assert 6600 < total[0] < 6800  # computed on the ellipsoid (PROVENANCE: 6,694.7 km²)
    assert total[1] == pytest.approx(6780.4, abs=1)  # the sources' official figures


def test_sources_and_licences_are_stored_per_boundary_version(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = dict(conn.execute("SELECT id, licence FROM admin.boundary_version").fetchall())
    assert rows["hcmc-wards-2025-07-01"] == "MIT"
    assert rows["hcmc-districts-2021-01-01"] == "GPL-3.0"
    assert len(rows) == 5


def test_raw_crosswalk(db_url: str) -> None:
    assert _one(db_url, "SELECT count(*) FROM admin.crosswalk_raw") == 493
    assert _one(db_url, "SELECT count(DISTINCT new_code) FROM admin.crosswalk_raw") == 168
    assert _one(db_url, "SELECT count(*) FROM admin.crosswalk_raw WHERE relation = 'partial'") >= 93
    # every pre-reform HCMC ward appears in the table
    missing = _one(db_url, "SELECT count(*) FROM admin.admin_unit u WHERE u.level='ward' AND u.valid_to='2025-06-30' "
                   "AND NOT EXISTS (SELECT 1 FROM admin.crosswalk_raw x WHERE x.old_code = u.code)")  # fmt: skip
    assert missing == 0


def test_second_load_changes_nothing(db_url: str) -> None:
    def snapshot() -> list[tuple[Any, ...]]:
        with psycopg.connect(db_url) as conn:
            return conn.execute(
                "SELECT id, xmin::text, code FROM admin.admin_unit UNION ALL "
                "SELECT id, xmin::text, old_code FROM admin.crosswalk_raw ORDER BY 1, 3"
            ).fetchall()

    before = snapshot()
    with psycopg.connect(db_url) as conn:
        report = load_hcmc(conn, SOURCES)
    assert report.changed == 0
    assert all(v["inserted"] == v["updated"] == 0 for v in report.versions.values())
    assert snapshot() == before
