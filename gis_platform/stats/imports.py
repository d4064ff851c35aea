"""Write paths used by the CLI (psycopg): observation files, crosswalk edits, and the demo load."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from gis_platform.audit import service as audit
from gis_platform.errors import NotFound
from gis_platform.stats import queries
from gis_platform.stats.crosswalk import Share, apply_edits, fill_share_new, parse_share_csv
from gis_platform.stats.hierarchy import NEW_WARDS, OLD_WARDS, DeriveReport, derive_hierarchy
from gis_platform.stats.observations import (
    Candidate,
    UnitIndex,
    check_request,
    observation_rows,
    plan_import,
    read_table,
    report_of,
)
from gis_platform.stats.seed import SeedReport, seed

logger = logging.getLogger(__name__)


def import_observations(
    conn: psycopg.Connection[Any],
    data: bytes,
    filename: str,
    *,
    indicator: str,
    period: str,
    level: str = "ward",
    at: date | None = None,
    allow_partial: bool = False,
    dry_run: bool = False,
    author: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Import one file of observations of ``indicator`` in ``period``: all rows, or none."""
    start, end, value_type = check_request(
        indicator, queries.select_indicator(conn, indicator), period, level
    )
    # a file without a date uses the boundaries valid at the period's end, or the nearest ones
    day = at or queries.select_nearest_validity(conn, level, end)
    found_units = queries.select_match_candidates(conn, level, day) if day else []
    if day is None or not found_units:
        raise NotFound(f"No {level} units are valid on {(at or end).isoformat()}.", parameter="at")
    candidates = [Candidate(**r) for r in found_units]
    columns, rows = read_table(data, filename)
    plan = plan_import(columns, rows, UnitIndex(candidates), value_type=value_type,
                       allow_partial=allow_partial)  # fmt: skip
    report = report_of(
        plan, indicator=indicator, period=period, level=level, at=day.isoformat(), dry_run=dry_run
    )
    if dry_run:
        return report
    label = source or f"file {Path(filename).name}"
    with conn.transaction():
        run = queries.insert_run(conn, {
            "kind": "file", "indicator_code": indicator, "period": period, "source": label, "author": author,
            "rows_total": report["rows"], "rows_written": len(plan.rows),
            "report": json.dumps(report, ensure_ascii=False, default=str),
        })  # fmt: skip
        values = observation_rows(plan, indicator, period, (start, end), label, run)
        report["written"] = queries.upsert_observations(conn, values)
        report["import_run"] = run
        audit.record(
            conn, actor=author or audit.cli_actor(), action="observations.import", target_kind="indicator",
            target=indicator, details={"period": period, "level": level, "rows": report["rows"],
                                       "written": report["written"], "import_run": run, "file": label},
        )  # fmt: skip
    return report


def _population_2019(conn: psycopg.Connection[Any]) -> dict[str, float]:
    return {r["unit_code"]: r["value"] for r in queries.select_values(conn, "population", OLD_WARDS, "2019")}


def current_shares(conn: psycopg.Connection[Any]) -> list[Share]:
    """The crosswalk between the 273 and the 168 wards as stored."""
    return [Share(**r) for r in queries.select_crosswalk(conn, OLD_WARDS, NEW_WARDS)]


def import_crosswalk(
    conn: psycopg.Connection[Any], data: bytes, *, author: str | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Apply an editor's shares (``old_code,new_code,share``); recompute the reverse shares."""
    edits = parse_share_csv(data)
    shares = fill_share_new(apply_edits(current_shares(conn), edits), _population_2019(conn))
    report: dict[str, Any] = {"rows": len(edits), "old_wards": len({e["old_code"] for e in edits}),
                              "dry_run": dry_run, "changed": 0}  # fmt: skip
    if dry_run:
        return report
    with conn.transaction():
        report["changed"] = queries.upsert_crosswalk(conn, OLD_WARDS, NEW_WARDS, [s.row() for s in shares],
                                                     author=author, force=True)  # fmt: skip
        queries.insert_run(conn, {
            "kind": "crosswalk", "indicator_code": None, "period": None, "source": "editor CSV",
            "author": author, "rows_total": len(edits), "rows_written": report["changed"],
            "report": json.dumps(report),
        })  # fmt: skip
    return report


@dataclass
class StatsDemoReport:
    """What :func:`load_stats_demo` did."""

    derive: DeriveReport
    seed: SeedReport

    @property
    def changed(self) -> int:
        """Rows written in total (zero on an idempotent re-run)."""
        return self.derive.changed + self.seed.changed


def load_stats_demo(conn: psycopg.Connection[Any], sources: Path | None = None) -> StatsDemoReport:
    """Derive the hierarchy and seed the statistics (after the admin units are loaded); idempotent."""
    from gis_platform.settings import get_settings

    where = sources or get_settings().sources_dir
    derived = derive_hierarchy(conn, where)
    seeded = seed(conn, where)
    return StatsDemoReport(derived, seeded)
