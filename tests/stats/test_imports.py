"""Observation imports (CSV and XLSX, by code or by name) and the census seed, on a real database."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import psycopg
import pytest
from typer.testing import CliRunner

from gis_platform.cli import stats as stats_cli
from gis_platform.errors import PlatformError
from gis_platform.settings import get_settings
from gis_platform.stats.imports import import_observations
from gis_platform.stats.seed import seed
from tests.conftest import SOURCES

pytestmark = pytest.mark.db


def count(url: str, indicator: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM stats.observation WHERE indicator_code = %s", (indicator,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def run_import(url: str, text: str | bytes, filename: str = "f.csv", **kw: Any) -> dict[str, Any]:
    data = text.encode() if isinstance(text, str) else text
    options: dict[str, Any] = {"indicator": "households", "period": "2024-Q4", **kw}
    with psycopg.connect(url) as conn:
        return import_observations(conn, data, filename, **options)


def test_census_seed_and_its_match_report(stats_db: str) -> None:
    with psycopg.connect(stats_db) as conn:
        report = conn.execute("SELECT report FROM stats.import_run WHERE kind = 'census'").fetchone()
        per_period: dict[str, int] = dict(conn.execute(
            "SELECT period, count(*) FROM stats.observation WHERE indicator_code = 'population' "
            "AND boundary_version = 'hcmc-wards-2025-01-01' AND NOT synthetic GROUP BY period"
        ).fetchall())  # fmt: skip
        synthetic = conn.execute(
            "SELECT count(DISTINCT unit_code) FROM stats.observation WHERE indicator_code = 'population' AND synthetic"
        ).fetchone()
    assert report is not None
    census = report[0]
    assert census["rows"] == 322 and census["targets_with_population"] == 273
    assert census["matched"] + len(census["unmatched"]) + len(census["ambiguous"]) == 322
    assert census["matched_by"]["code"] > 200 and census["matched_by"]["name within district"] > 0
    assert all("row" in u and "code_2019" in u for u in census["unmatched"])
    assert census["population_2019_total"] == 8_993_082
    assert per_period == {"2009": 273, "2019": 273}
    assert synthetic == (66,)  # Bình Dương and Bà Rịa-Vũng Tàu wards: synthetic, labelled


def test_import_by_code_and_by_name_with_parent(stats_db: str) -> None:
    before = count(stats_db, "households")
    report = run_import(stats_db, "unit_code,value\n26734,120\n26737,95\n")
    assert report["matched"] == 2 and report["boundary_version"] == "hcmc-wards-2025-01-01"
    assert report["written"] == {"inserted": 2, "updated": 0}
    by_name = run_import(
        stats_db, "Tên đơn vị,Quận,Giá trị\nPhường 9,Quận 10,7\nphuong 9,quan 3,8\n", period="2024-Q3"
    )
    assert by_name["matched"] == 2
    assert count(stats_db, "households") == before + 4
    again = run_import(stats_db, "unit_code,value\n26734,120\n26737,95\n")
    assert again["written"] == {"inserted": 0, "updated": 0}  # idempotent


def test_import_xlsx_on_the_new_boundaries(stats_db: str) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["ward_name", "value"])
    sheet.append(["Sài Gòn", 1500])
    sheet.append(["Tân Định", 1200.5])
    buf = io.BytesIO()
    book.save(buf)
    report = run_import(
        stats_db, buf.getvalue(), "data.xlsx", indicator="online_procedures", period="2026-Q1"
    )
    assert report["matched"] == 2 and report["boundary_version"] == "hcmc-wards-2025-07-01"


def test_ambiguous_names_block_the_import_unless_partial(stats_db: str) -> None:
    text = "unit_name,value\nPhường 9,1\nĐa Kao,2\nPhường Không Có,3\n"
    before = count(stats_db, "welfare_beneficiaries")
    with pytest.raises(PlatformError) as err:
        run_import(stats_db, text, indicator="welfare_beneficiaries", period="2023")
    assert err.value.status == 422
    report = err.value.extensions["report"]
    assert [a["row"] for a in report["ambiguous"]] == [2] and len(report["ambiguous"][0]["candidates"]) > 3
    assert [u["row"] for u in report["unmatched"]] == [4]
    assert count(stats_db, "welfare_beneficiaries") == before
    dry = run_import(
        stats_db, text, indicator="welfare_beneficiaries", period="2023", allow_partial=True, dry_run=True
    )
    assert dry["matched"] == 1 and count(stats_db, "welfare_beneficiaries") == before
    partial = run_import(stats_db, text, indicator="welfare_beneficiaries", period="2023", allow_partial=True)
    assert partial["written"]["inserted"] == 1


@pytest.mark.parametrize(
    ("text", "options", "status", "rows"),
    [
        ("unit_code,value\n26734,1\n", {"indicator": "nope"}, 404, None),
        ("unit_code,value\n26734,1\n", {"indicator": "population_density"}, 400, None),
        ("unit_code,value\n26734,1\n", {"period": "2024-13"}, 400, None),
        ("unit_code,value\n26734,1\n", {"level": "planet"}, 400, None),
        ("unit_code,number\n26734,1\n", {}, 422, [1]),
        ("unit_code,value\n26734,1\n26737,many\n", {}, 422, [3]),
        ("unit_code,value\n26734,1\n26737,2\n26734,3\n", {}, 422, [4]),
        ("unit_code,value\n26734,-1\n26737,2\n", {}, 422, [2]),
        ("unit_code,value\n26734,1\n00000,2\n", {}, 422, [3]),
    ],
)
def test_bad_input_writes_nothing(
    stats_db: str, text: str, options: dict[str, Any], status: int, rows: list[int] | None
) -> None:
    before = count(stats_db, "households")
    with pytest.raises(PlatformError) as err:
        run_import(stats_db, text, **{"period": "2022", **options})
    assert err.value.status == status
    if rows is not None:
        assert [e.get("row") for e in err.value.extensions["errors"]] == rows
    assert count(stats_db, "households") == before


@pytest.fixture
def cli_env(stats_db: str) -> Iterator[dict[str, str]]:
    get_settings.cache_clear()
    yield {"DATABASE_URL": stats_db}
    get_settings.cache_clear()


def test_cli_import_reports_rows_and_exits_non_zero(cli_env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "good.csv"
    good.write_text("unit_code,value\n26734,10\n", encoding="utf-8")
    result = runner.invoke(stats_cli.app, ["import", str(good), "--indicator", "households", "--period", "2021"],
                           env=cli_env)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1/1 rows matched" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("unit_name,value\nPhường 9,1\nĐa Kao,x\n", encoding="utf-8")
    result = runner.invoke(stats_cli.app, ["import", str(bad), "--indicator", "households", "--period", "2021"],
                           env=cli_env)  # fmt: skip
    assert result.exit_code == 2
    assert "row 3" in result.output or "3" in result.output


def test_cli_derive_and_seed_are_idempotent(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    derive = runner.invoke(stats_cli.app, ["derive"], env=cli_env)
    assert derive.exit_code == 0 and "0 rows changed" in derive.output, derive.output
    seed = runner.invoke(stats_cli.app, ["seed"], env=cli_env)
    assert seed.exit_code == 0 and "0 rows changed" in seed.output, seed.output
    assert "273/273" in seed.output
    export = runner.invoke(stats_cli.app, ["crosswalk", "export"], env=cli_env)
    assert export.exit_code == 0 and export.output.startswith("old_code,new_code,relation,share")


def test_reseeding_never_replaces_imported_values(stats_db: str) -> None:
    report = run_import(stats_db, "unit_code,value\n26737,4321\n", period="2024")  # seeded synthetic before
    assert report["written"] == {"inserted": 0, "updated": 1}
    with psycopg.connect(stats_db) as conn:
        again = seed(conn, SOURCES, force=True)
        row = conn.execute(
            "SELECT value, synthetic FROM stats.observation WHERE indicator_code = 'households' AND period = '2024' "
            "AND unit_code = '26737' AND boundary_version = 'hcmc-wards-2025-01-01'"
        ).fetchone()
        skipped = seed(conn, SOURCES)
    assert again.changed == 0 and row == (4321.0, False)
    assert skipped.skipped or skipped.changed == 0
