"""The derived hierarchy: approximate old wards, synthetic neighbourhoods and groups, crosswalk shares."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from gis_platform.admin.loader import load_hcmc
from gis_platform.stats import queries
from gis_platform.stats.hierarchy import derive_hierarchy
from gis_platform.stats.imports import StatsDemoReport, import_crosswalk, load_stats_demo
from tests.conftest import SOURCES

pytestmark = pytest.mark.db

OLD, NEW = "hcmc-wards-2025-01-01", "hcmc-wards-2025-07-01"


def one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_first_run_was_fast_and_complete(stats_template: tuple[str, StatsDemoReport]) -> None:
    report = stats_template[1]
    assert report.derive.approximate_wards == 273 and not report.derive.missing_wards
    # about 15 s on an idle 2-core machine; generous here, the suite shares the machine
    assert report.changed > 25_000


def test_273_approximate_valid_polygons_cover_the_city(stats_db: str) -> None:
    with psycopg.connect(stats_db) as conn:
        n, with_geom, valid, quality = one(
            conn,
            "SELECT count(*), count(geom), bool_and(ST_IsValid(geom)), array_agg(DISTINCT geom_quality) "
            "FROM admin.admin_unit WHERE boundary_version = %s",
            OLD,
        )
        union_km2 = one(conn, "SELECT ST_Area(ST_Union(geom)::geography) / 1e6 FROM admin.admin_unit "
                              "WHERE boundary_version = %s", OLD)  # fmt: skip
        city_km2 = one(
            conn, "SELECT area_km2 FROM admin.admin_unit WHERE boundary_version = 'hcmc-city-2021-01-01'"
        )
        version_quality = one(conn, "SELECT geometry_quality FROM admin.boundary_version WHERE id = %s", OLD)
    assert (n, with_geom, valid, quality) == (273, 273, True, ["approximate"])
    assert version_quality == "approximate"
    assert abs(union_km2 - city_km2) / city_km2 < 0.05, (union_km2, city_km2)


def test_whole_merges_lie_inside_their_new_ward(stats_db: str) -> None:
    with psycopg.connect(stats_db) as conn:
        total, inside = one(
            conn,
            """
            SELECT count(*), count(*) FILTER (WHERE ST_Area(ST_Difference(o.geom, n.geom)::geography) < 1)
            FROM admin.crosswalk x
            JOIN admin.admin_unit o ON o.boundary_version = x.from_version AND o.level = 'ward' AND o.code = x.old_code
            JOIN admin.admin_unit n ON n.boundary_version = x.to_version AND n.level = 'ward' AND n.code = x.new_code
            WHERE x.relation IN ('whole', 'unchanged')
            """,
        )
    assert total > 200 and inside == total


def test_crosswalk_shares_sum_to_one(stats_db: str) -> None:
    with psycopg.connect(stats_db) as conn:
        bad_old = conn.execute(
            "SELECT old_code FROM admin.crosswalk GROUP BY old_code HAVING abs(sum(share_old) - 1) > 1e-9"
        ).fetchall()
        bad_new = conn.execute(
            "SELECT new_code FROM admin.crosswalk GROUP BY new_code HAVING abs(sum(share_new) - 1) > 1e-9"
        ).fetchall()
        methods: dict[str, int] = dict(
            conn.execute("SELECT method, count(*) FROM admin.crosswalk GROUP BY 1").fetchall()
        )
        old_wards = one(conn, "SELECT count(DISTINCT old_code) FROM admin.crosswalk")
        whole = one(conn, "SELECT bool_and(share_old = 1) FROM admin.crosswalk WHERE method = 'whole'")
    assert bad_old == [] and bad_new == []
    assert old_wards == 273
    assert methods["whole"] > 200 and methods["area of approximate polygons"] > 50
    assert whole is True


def test_da_kao_has_8_neighbourhoods_and_96_groups(stats_db: str) -> None:
    with psycopg.connect(stats_db) as conn:
        kps = conn.execute(
            """
            SELECT k.code, k.name_vi, k.geom_quality, (SELECT count(*) FROM admin.admin_unit g WHERE g.parent_id = k.id)
            FROM admin.admin_unit k JOIN admin.admin_unit w ON w.id = k.parent_id
            WHERE w.code = '26737' AND w.boundary_version = %s ORDER BY k.code
            """,
            (OLD,),
        ).fetchall()
        inside = one(
            conn,
            """
            SELECT bool_and(ST_Area(ST_Difference(k.geom, w.geom)::geography) < 1)
            FROM admin.admin_unit k JOIN admin.admin_unit w ON w.id = k.parent_id
            WHERE k.level = 'neighbourhood'
            """,
        )
    assert [k[0] for k in kps] == [f"26737-KP{i:02d}" for i in range(1, 9)]
    assert kps[0][1] == "Khu phố 1" and {k[2] for k in kps} == {"synthetic"}
    assert sum(k[3] for k in kps) == 96
    assert inside is True


def test_every_ward_of_both_versions_has_neighbourhoods(stats_db: str) -> None:
    with psycopg.connect(stats_db) as conn:
        rows = conn.execute(
            """
            SELECT w.boundary_version, count(*) FILTER (WHERE NOT EXISTS (
                       SELECT 1 FROM admin.admin_unit k WHERE k.parent_id = w.id AND k.level = 'neighbourhood'))
            FROM admin.admin_unit w WHERE w.level = 'ward' GROUP BY 1
            """
        ).fetchall()
        orphans = one(conn, "SELECT count(*) FROM admin.admin_unit WHERE level IN ('neighbourhood', "
                            "'residential_group') AND parent_id IS NULL")  # fmt: skip
    assert dict(rows) == {OLD: 0, NEW: 0}
    assert orphans == 0


@pytest.mark.slow
def test_second_run_changes_nothing_and_reloading_admin_units_keeps_the_approximations(stats_db: str) -> None:
    with psycopg.connect(stats_db) as conn:
        again = load_stats_demo(conn, SOURCES)
        assert again.changed == 0 and again.derive.skipped
        forced = derive_hierarchy(conn, SOURCES, force=True)
        assert forced.changed == 0, forced.written
        before = conn.execute("SELECT md5(string_agg(ST_AsEWKB(geom)::text, ',' ORDER BY code)) FROM admin.admin_unit "
                              "WHERE boundary_version = %s", (OLD,)).fetchone()  # fmt: skip
        reload = load_hcmc(
            conn, SOURCES
        )  # the loader has no polygons for the old wards: it keeps the derived ones
        repaired = derive_hierarchy(conn, SOURCES)
        after = conn.execute("SELECT md5(string_agg(ST_AsEWKB(geom)::text, ',' ORDER BY code)) FROM admin.admin_unit "
                             "WHERE boundary_version = %s", (OLD,)).fetchone()  # fmt: skip
    assert reload.changed == 0
    assert repaired.changed == 0, repaired.written
    assert before == after


def test_editor_shares_survive_a_new_estimate(stats_db: str) -> None:
    with psycopg.connect(stats_db) as conn:
        estimated = [dict(r) for r in queries.select_crosswalk(conn, OLD, NEW)]
        old, pairs = one(conn, "SELECT old_code, array_agg(new_code ORDER BY new_code) FROM admin.crosswalk "
                               "WHERE method <> 'whole' GROUP BY old_code ORDER BY old_code LIMIT 1")  # fmt: skip
        shares = [0.25, 0.75] + [0.0] * (len(pairs) - 2)
        csv = "old_code,new_code,share\n" + "".join(
            f"{old},{n},{s}\n" for n, s in zip(pairs, shares, strict=True)
        )
        report = import_crosswalk(conn, csv.encode(), author="test")
        assert report["changed"] >= 1
        bad_new = conn.execute(
            "SELECT new_code FROM admin.crosswalk GROUP BY new_code HAVING abs(sum(share_new) - 1) > 1e-9"
        ).fetchall()
        assert bad_new == []
        # what a new derivation writes: the estimate, which must not replace the editor's rows
        queries.upsert_crosswalk(conn, OLD, NEW, estimated, author=None, force=False)
        rows = conn.execute("SELECT new_code, share_old, method, updated_by FROM admin.crosswalk WHERE old_code = %s "
                            "ORDER BY new_code", (old,)).fetchall()  # fmt: skip
    assert [r[1] for r in rows] == shares
    assert {r[2] for r in rows} == {"editor"} and rows[0][3] == "test"
