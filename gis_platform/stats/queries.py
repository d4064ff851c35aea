"""SQL of the statistics: the only place it lives (psycopg for CLI and loaders, asyncpg for the API)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import asyncpg
import psycopg
from psycopg.rows import dict_row

from gis_platform.admin import queries as admin_queries

Conn = psycopg.Connection[Any]


@cache
def _sql(name: str) -> str:
    """A statement from ``sql/<name>.sql`` (the longer ones live there)."""
    return (resources.files("gis_platform.stats") / "sql" / f"{name}.sql").read_text(encoding="utf-8")


# --- inputs of the derivation ------------------------------------------------------------------------

SELECT_UNITS_OF_VERSION = """
SELECT code, level, name_vi, full_name_vi, unit_type, parent_code, valid_from, valid_to,
       ST_AsBinary(geom) AS wkb, area_km2
FROM admin.admin_unit WHERE boundary_version = %(version)s ORDER BY code
"""

SELECT_CROSSWALK_RAW = """
SELECT old_code, new_code, relation, coalesce(note, '') AS note
FROM admin.crosswalk_raw
WHERE from_version = %(from_version)s AND to_version = %(to_version)s AND old_code <> ''
ORDER BY old_code, new_code
"""


def select_units_of_version(conn: Conn, version: str) -> list[dict[str, Any]]:
    """Every unit of one boundary version, with its geometry as WKB (or None)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SELECT_UNITS_OF_VERSION, {"version": version}).fetchall()


def select_crosswalk_raw(conn: Conn, from_version: str, to_version: str) -> list[dict[str, Any]]:
    """The official old → new rows between two versions."""
    with conn.cursor(row_factory=dict_row) as cur:
        params = {"from_version": from_version, "to_version": to_version}
        return cur.execute(SELECT_CROSSWALK_RAW, params).fetchall()


# --- writes of the derivation ----------------------------------------------------------------------

SET_VERSION_QUALITY = """
UPDATE admin.boundary_version SET geometry_quality = %(quality)s
WHERE id = %(id)s AND geometry_quality IS DISTINCT FROM %(quality)s
"""

STAGE_GEOMETRY = """
DROP TABLE IF EXISTS pg_temp.stats_stage_geom;
CREATE TEMP TABLE stats_stage_geom (code text PRIMARY KEY, wkb bytea NOT NULL) ON COMMIT DROP
"""

COPY_UNITS = """
COPY stats_stage_unit (boundary_version, code, level, unit_type, name_vi, full_name_vi, name_ascii, name_en,
                       parent_code, valid_from, valid_to, wkb, attributes) FROM STDIN
"""

# a version's checksum counts only while it has units
SELECT_FINGERPRINTS = """
SELECT b.id, b.checksum FROM admin.boundary_version b
WHERE b.id = ANY(%(ids)s) AND EXISTS (SELECT 1 FROM admin.admin_unit u WHERE u.boundary_version = b.id)
ORDER BY b.id
"""

COUNT_APPROXIMATE = """
SELECT count(*) FILTER (WHERE geom IS NULL OR geom_quality IS DISTINCT FROM 'approximate')
FROM admin.admin_unit WHERE boundary_version = %(version)s
"""


def upsert_boundary_version(conn: Conn, version: dict[str, Any]) -> int:
    """Insert or refresh one boundary version (the admin loader's statement); return 1 when it changed."""
    return admin_queries.upsert_boundary_version(conn, version)


def set_version_quality(conn: Conn, version: str, quality: str) -> int:
    """Label a boundary version's geometry quality; return 1 when it changed."""
    return conn.execute(SET_VERSION_QUALITY, {"id": version, "quality": quality}).rowcount


def update_ward_geometry(conn: Conn, version: str, rows: Iterable[tuple[str, bytes]], quality: str) -> int:
    """Set the geometry of existing wards from ``(code, wkb)``; return how many changed."""
    with conn.cursor() as cur:
        cur.execute(STAGE_GEOMETRY)
        with cur.copy("COPY stats_stage_geom (code, wkb) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return cur.execute(_sql("update_ward_geometry"), {"version": version, "quality": quality}).rowcount


def replace_synthetic_units(
    conn: Conn, versions: Sequence[str], rows: Iterable[Sequence[Any]]
) -> dict[str, int]:
    """Upsert generated units of ``versions`` and delete the ones no longer generated."""
    with conn.cursor() as cur:
        cur.execute(_sql("stage_units"))
        with cur.copy(COPY_UNITS) as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute("ANALYZE stats_stage_unit")
        deleted = cur.execute(_sql("delete_stale_units"), {"versions": list(versions)}).rowcount
        flags: list[bool] = []
        # neighbourhoods first, so that the groups find their parents' ids
        for level, parent_level in (("neighbourhood", "ward"), ("residential_group", "neighbourhood")):
            params = {"level": level, "parent_level": parent_level}
            flags.extend(r[0] for r in cur.execute(_sql("upsert_staged_units"), params).fetchall())
            # fresh statistics, or the groups' parent lookup may plan a nested loop over new rows
            cur.execute("ANALYZE admin.admin_unit")
    inserted = sum(1 for f in flags if f)
    return {"inserted": inserted, "updated": len(flags) - inserted, "deleted": deleted}


def select_fingerprints(conn: Conn, ids: Sequence[str]) -> dict[str, str | None]:
    """The checksums of boundary versions (what their content was derived from)."""
    return {r[0]: r[1] for r in conn.execute(SELECT_FINGERPRINTS, {"ids": list(ids)}).fetchall()}


def count_not_approximate(conn: Conn, version: str) -> int:
    """Units of ``version`` without an approximate geometry."""
    row = conn.execute(COUNT_APPROXIMATE, {"version": version}).fetchone()
    return int(row[0]) if row else 0


# --- crosswalk -------------------------------------------------------------------------------------

SELECT_CROSSWALK = """
SELECT old_code, new_code, relation, share_old, share_new, method, method_new, area_km2, note
FROM admin.crosswalk WHERE from_version = %(from_version)s AND to_version = %(to_version)s
ORDER BY old_code, new_code
"""


def upsert_crosswalk(
    conn: Conn, from_version: str, to_version: str, rows: Sequence[dict[str, Any]], *, author: str | None,
    force: bool,
) -> int:  # fmt: skip
    """Upsert shares (editor rows are kept unless ``force``); return how many rows changed."""
    changed = 0
    with conn.cursor() as cur:
        for r in rows:
            params = {**r, "from_version": from_version, "to_version": to_version, "updated_by": author,
                      "force": force}  # fmt: skip
            changed += cur.execute(_sql("upsert_crosswalk"), params).rowcount
    return changed


def select_crosswalk(conn: Conn, from_version: str, to_version: str) -> list[dict[str, Any]]:
    """The crosswalk with shares between two versions."""
    with conn.cursor(row_factory=dict_row) as cur:
        params = {"from_version": from_version, "to_version": to_version}
        return cur.execute(SELECT_CROSSWALK, params).fetchall()


# --- indicators, observations and import runs (psycopg) ---------------------------------------------

SELECT_INDICATOR = "SELECT * FROM stats.indicator WHERE code = %(code)s"

INSERT_RUN = """
INSERT INTO stats.import_run (kind, indicator_code, period, source, author, rows_total, rows_written, report)
VALUES (%(kind)s, %(indicator_code)s, %(period)s, %(source)s, %(author)s, %(rows_total)s,
        %(rows_written)s, %(report)s)
RETURNING id
"""

SELECT_VALUES = """
SELECT unit_code, value FROM stats.observation
WHERE indicator_code = %(indicator)s AND boundary_version = %(version)s AND period = %(period)s
"""

COUNT_RUN_OBSERVATIONS = "SELECT count(*) FROM stats.observation WHERE import_run_id = %(run)s"

SELECT_RUN_BY_KEY = "SELECT id, report FROM stats.import_run WHERE key = %(key)s"

STAGE_OBSERVATIONS = """
DROP TABLE IF EXISTS pg_temp.stats_stage_obs;
CREATE TEMP TABLE stats_stage_obs (
    indicator_code text, boundary_version text, level text, unit_code text, period text,
    period_start date, period_end date, value double precision, source text, synthetic boolean,
    import_run_id bigint
) ON COMMIT DROP
"""

COPY_OBSERVATIONS = """
COPY stats_stage_obs (indicator_code, boundary_version, level, unit_code, period, period_start, period_end,
                      value, source, synthetic, import_run_id) FROM STDIN
"""


def upsert_indicators(conn: Conn, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or refresh indicators; return how many changed."""
    with conn.cursor() as cur:
        return sum(cur.execute(_sql("upsert_indicator"), r).rowcount for r in rows)


def select_indicator(conn: Conn, code: str) -> dict[str, Any] | None:
    """One indicator, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SELECT_INDICATOR, {"code": code}).fetchone()


def upsert_run(conn: Conn, run: dict[str, Any]) -> int:
    """Record a keyed import run (idempotent); return its id."""
    conn.execute(_sql("upsert_run"), run)
    row = conn.execute(SELECT_RUN_BY_KEY, {"key": run["key"]}).fetchone()
    assert row is not None  # noqa: S101 - just upserted
    return int(row[0])


def insert_run(conn: Conn, run: dict[str, Any]) -> int:
    """Record an import run; return its id."""
    row = conn.execute(INSERT_RUN, run).fetchone()
    assert row is not None  # noqa: S101 - RETURNING always yields a row
    return int(row[0])


def select_values(conn: Conn, indicator: str, version: str, period: str) -> list[dict[str, Any]]:
    """Observed values of one indicator on one boundary version in one period."""
    with conn.cursor(row_factory=dict_row) as cur:
        params = {"indicator": indicator, "version": version, "period": period}
        return cur.execute(SELECT_VALUES, params).fetchall()


def select_run(conn: Conn, key: str) -> dict[str, Any] | None:
    """A keyed run's id and report."""
    row = conn.execute(SELECT_RUN_BY_KEY, {"key": key}).fetchone()
    return {"id": int(row[0]), "report": dict(row[1])} if row else None


def count_run_observations(conn: Conn, run: int) -> int:
    """How many observations an import run wrote (and still stand)."""
    row = conn.execute(COUNT_RUN_OBSERVATIONS, {"run": run}).fetchone()
    return int(row[0]) if row else 0


def upsert_observations(conn: Conn, rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """Upsert observation tuples (in COPY column order); return inserted/updated counts."""
    with conn.cursor() as cur:
        cur.execute(STAGE_OBSERVATIONS)
        with cur.copy(COPY_OBSERVATIONS) as copy:
            for row in rows:
                copy.write_row(row)
        flags = [r[0] for r in cur.execute(_sql("upsert_staged_observations")).fetchall()]
    inserted = sum(1 for f in flags if f)
    return {"inserted": inserted, "updated": len(flags) - inserted}


def select_match_candidates(conn: Conn, level: str, at: date) -> list[dict[str, Any]]:
    """Units of ``level`` valid on ``at`` with their parents' names."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_sql("match_candidates_pg"), {"level": level, "at": at}).fetchall()


def select_nearest_validity(conn: Conn, level: str, at: date) -> date | None:
    """A day on which units of ``level`` are valid: ``at`` itself, else the nearest version's start."""
    row = conn.execute(_sql("nearest_validity_pg"), {"level": level, "at": at}).fetchone()
    return row[0] if row else None


# --- read side (asyncpg, for the API); the statements live in sql/*.sql -------------------------------


def _keys(keys: Sequence[tuple[str, str, str]]) -> tuple[list[str], list[str], list[str]]:
    return [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]


async def fetch_indicators(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every indicator, in display order."""
    rows: list[asyncpg.Record] = await conn.fetch(_sql("indicators"))
    return rows


async def fetch_units_at(conn: asyncpg.Connection, level: str, at: date) -> list[asyncpg.Record]:
    """Units of ``level`` valid on ``at``."""
    rows: list[asyncpg.Record] = await conn.fetch(_sql("units_at"), level, at)
    return rows


async def fetch_unit_at(
    conn: asyncpg.Connection, code: str, at: date, level: str | None
) -> asyncpg.Record | None:
    """One unit valid on ``at``."""
    row: asyncpg.Record | None = await conn.fetchrow(_sql("unit_at"), code, at, level)
    return row


async def fetch_observations(
    conn: asyncpg.Connection, indicators: Sequence[str], periods: Sequence[str] | None
) -> list[asyncpg.Record]:
    """Observations of ``indicators`` in ``periods`` (all when None), on every boundary version."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _sql("observations_of_indicators"), list(indicators), list(periods) if periods is not None else None
    )
    return rows


async def fetch_observations_of_units(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, str, str]]
) -> list[asyncpg.Record]:
    """Every observation of the units ``keys`` ((boundary_version, level, code))."""
    rows: list[asyncpg.Record] = await conn.fetch(_sql("observations_of_units"), *_keys(keys))
    return rows


async def fetch_periods(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """(indicator_code, period) pairs that have observations."""
    rows: list[asyncpg.Record] = await conn.fetch(_sql("periods"))
    return rows


async def fetch_children(conn: asyncpg.Connection, levels: Sequence[str]) -> list[asyncpg.Record]:
    """(child, parent) links of the units of ``levels``."""
    rows: list[asyncpg.Record] = await conn.fetch(_sql("children"), list(levels))
    return rows


async def fetch_descendants(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, str, str]]
) -> list[asyncpg.Record]:
    """The units ``keys`` and every unit below them, with their parents."""
    rows: list[asyncpg.Record] = await conn.fetch(_sql("descendants"), *_keys(keys))
    return rows


async def fetch_crosswalk(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every crosswalk pair with its shares."""
    rows: list[asyncpg.Record] = await conn.fetch(_sql("crosswalk"))
    return rows


async def fetch_crosswalk_of_unit(conn: asyncpg.Connection, version: str, code: str) -> list[asyncpg.Record]:
    """The crosswalk pairs of one ward."""
    rows: list[asyncpg.Record] = await conn.fetch(_sql("crosswalk_of_unit"), version, code)
    return rows


async def fetch_periods_of(conn: asyncpg.Connection, indicator: str) -> list[str]:
    """Periods with observations of one indicator."""
    rows = await conn.fetch(_sql("periods_of"), indicator)
    return [str(r["period"]) for r in rows]


# --- write side of the API (asyncpg) -------------------------------------------------------------------

_OBS_COLUMNS = (
    "indicator_code", "boundary_version", "level", "unit_code", "period", "period_start", "period_end",
    "value", "source", "synthetic", "import_run_id",
)  # fmt: skip


async def fetch_indicator(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    """One indicator's kind, aggregation and value type."""
    row: asyncpg.Record | None = await conn.fetchrow(_sql("indicator"), code)
    return row


async def fetch_nearest_validity(conn: asyncpg.Connection, level: str, at: date) -> date | None:
    """``at`` when units of ``level`` are valid then, else the nearest version's first day."""
    value: date | None = await conn.fetchval(_sql("nearest_validity"), level, at)
    return value


async def fetch_match_candidates(conn: asyncpg.Connection, level: str, at: date) -> list[asyncpg.Record]:
    """Units of ``level`` valid on ``at`` with their parents' names."""
    rows: list[asyncpg.Record] = await conn.fetch(_sql("match_candidates"), level, at)
    return rows


async def insert_run_async(conn: asyncpg.Connection, run: Sequence[Any]) -> int:
    """Record an import run (kind, indicator, period, source, author, total, written, report json)."""
    return int(await conn.fetchval(_sql("insert_run"), *run))


async def upsert_observations_async(
    conn: asyncpg.Connection, rows: Sequence[Sequence[Any]]
) -> dict[str, int]:
    """Upsert observation tuples (in ``_OBS_COLUMNS`` order) through a staging table."""
    await conn.execute(STAGE_OBSERVATIONS)
    await conn.copy_records_to_table("stats_stage_obs", records=rows, columns=_OBS_COLUMNS)
    flags = [r[0] for r in await conn.fetch(_sql("upsert_staged_observations"))]
    await conn.execute("DROP TABLE pg_temp.stats_stage_obs")
    inserted = sum(1 for f in flags if f)
    return {"inserted": inserted, "updated": len(flags) - inserted}


# --- joins onto admin-unit layers (asyncpg) ------------------------------------------------------------


async def fetch_data_state(conn: asyncpg.Connection) -> str:
    """Text that changes whenever observations, indicators, crosswalk or boundaries change."""
    return str(await conn.fetchval(_sql("data_state")))


async def fetch_boundary_version(conn: asyncpg.Connection, version: str) -> asyncpg.Record | None:
    """One boundary version (id, level, valid_from, valid_to, geometry_quality)."""
    row: asyncpg.Record | None = await conn.fetchrow(_sql("boundary_version"), version)
    return row


# --- layers derived from boundary versions (psycopg) --------------------------------------------------

ENSURE_ADMINISTRATION = """
INSERT INTO catalogue.category (id, title_vi, title_en) VALUES ('administration', 'Hành chính',
       'Administrative boundaries') ON CONFLICT (id) DO NOTHING;
"""
SELECT_ADMINISTRATION = "SELECT title_vi, title_en FROM catalogue.category WHERE id = 'administration'"


def ensure_administration_category(conn: Conn) -> list[str]:
    """Create the 'administration' category when missing; return its titles."""
    conn.execute(ENSURE_ADMINISTRATION)
    row = conn.execute(SELECT_ADMINISTRATION).fetchone()
    return [str(row[0]), str(row[1])] if row else []


def upsert_derived_layer(conn: Conn, values: dict[str, Any]) -> tuple[int, str | None] | None:
    """Create or refresh a derived layer's metadata; its (published version, data checksum) if it has one."""
    row = conn.execute(_sql("upsert_derived_layer"), values).fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), row[1]
