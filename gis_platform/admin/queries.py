"""SQL of the administrative units: the only place it lives."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
import psycopg

_UNIT_COLUMNS = (
    "boundary_version", "code", "level", "unit_type", "name_vi", "full_name_vi", "name_ascii",
    "name_en", "full_name_en", "parent_code", "valid_from", "valid_to", "geom", "geom_quality",
    "area_km2_official", "attributes",
)  # fmt: skip

UPSERT_VERSION = """
INSERT INTO admin.boundary_version AS b
    (id, title, level, valid_from, valid_to, geometry_quality, source, source_url, licence, attribution, checksum)
VALUES (%(id)s, %(title)s, %(level)s, %(valid_from)s, %(valid_to)s, %(geometry_quality)s, %(source)s,
        %(source_url)s, %(licence)s, %(attribution)s, %(checksum)s)
ON CONFLICT (id) DO UPDATE SET
    title = EXCLUDED.title, level = EXCLUDED.level, valid_from = EXCLUDED.valid_from,
    valid_to = EXCLUDED.valid_to, geometry_quality = EXCLUDED.geometry_quality, source = EXCLUDED.source,
    source_url = EXCLUDED.source_url, licence = EXCLUDED.licence, attribution = EXCLUDED.attribution,
    checksum = EXCLUDED.checksum, loaded_at = now()
WHERE (b.title, b.level, b.valid_from, b.valid_to, b.geometry_quality, b.source, b.source_url, b.licence,
       b.attribution, b.checksum)
   IS DISTINCT FROM
      (EXCLUDED.title, EXCLUDED.level, EXCLUDED.valid_from, EXCLUDED.valid_to, EXCLUDED.geometry_quality,
       EXCLUDED.source, EXCLUDED.source_url, EXCLUDED.licence, EXCLUDED.attribution, EXCLUDED.checksum)
"""

UPSERT_UNIT = """
INSERT INTO admin.admin_unit AS u
    (boundary_version, code, level, unit_type, name_vi, full_name_vi, name_ascii, name_en, full_name_en,
     parent_code, valid_from, valid_to, geom, geom_quality, area_km2_official, attributes)
VALUES (%(boundary_version)s, %(code)s, %(level)s, %(unit_type)s, %(name_vi)s, %(full_name_vi)s,
        %(name_ascii)s, %(name_en)s, %(full_name_en)s, %(parent_code)s, %(valid_from)s, %(valid_to)s,
        ST_Multi(ST_GeomFromWKB(%(geom)s, 4326)), %(geom_quality)s, %(area_km2_official)s,
        %(attributes)s::jsonb)
ON CONFLICT (boundary_version, level, code) DO UPDATE SET
    unit_type = EXCLUDED.unit_type, name_vi = EXCLUDED.name_vi, full_name_vi = EXCLUDED.full_name_vi,
    name_ascii = EXCLUDED.name_ascii, name_en = EXCLUDED.name_en, full_name_en = EXCLUDED.full_name_en,
    parent_code = EXCLUDED.parent_code, valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
    -- a source without polygons (the pre-reform wards) keeps the approximations derived later
    geom = coalesce(EXCLUDED.geom, u.geom), geom_quality = coalesce(EXCLUDED.geom_quality, u.geom_quality),
    area_km2_official = EXCLUDED.area_km2_official, attributes = EXCLUDED.attributes
WHERE (u.unit_type, u.name_vi, u.full_name_vi, u.name_ascii, u.name_en, u.full_name_en, u.parent_code,
       u.valid_from, u.valid_to, u.geom_quality, u.area_km2_official, u.attributes)
   IS DISTINCT FROM
      (EXCLUDED.unit_type, EXCLUDED.name_vi, EXCLUDED.full_name_vi, EXCLUDED.name_ascii, EXCLUDED.name_en,
       EXCLUDED.full_name_en, EXCLUDED.parent_code, EXCLUDED.valid_from, EXCLUDED.valid_to,
       coalesce(EXCLUDED.geom_quality, u.geom_quality), EXCLUDED.area_km2_official, EXCLUDED.attributes)
   OR (EXCLUDED.geom IS NOT NULL
       AND NOT ST_OrderingEquals(coalesce(u.geom, 'GEOMETRYCOLLECTION EMPTY'::geometry), EXCLUDED.geom))
RETURNING (xmax = 0) AS inserted
"""

# A unit's parent is the unit of the next level up, with the parent's code, valid when the child starts.
LINK_PARENTS = """
UPDATE admin.admin_unit AS c
SET parent_id = p.id
FROM admin.admin_unit AS p
WHERE c.parent_code = p.code
  AND p.level = CASE c.level WHEN 'district' THEN 'city' WHEN 'ward' THEN
        (CASE WHEN EXISTS (SELECT 1 FROM admin.admin_unit d WHERE d.level = 'district' AND d.code = c.parent_code
                           AND d.valid_from <= c.valid_from AND (d.valid_to IS NULL OR c.valid_from <= d.valid_to))
              THEN 'district' ELSE 'city' END)
      WHEN 'neighbourhood' THEN 'ward' WHEN 'residential_group' THEN 'neighbourhood' END
  AND p.valid_from <= c.valid_from AND (p.valid_to IS NULL OR c.valid_from <= p.valid_to)
  AND c.parent_id IS DISTINCT FROM p.id
"""

UPSERT_CROSSWALK = """
INSERT INTO admin.crosswalk_raw AS x
    (from_version, to_version, old_code, old_name, old_district, old_province, new_code, new_name,
     relation, note, source)
VALUES (%(from_version)s, %(to_version)s, %(old_code)s, %(old_name)s, %(old_district)s, %(old_province)s,
        %(new_code)s, %(new_name)s, %(relation)s, %(note)s, %(source)s)
ON CONFLICT (from_version, to_version, old_code, new_code) DO UPDATE SET
    old_name = EXCLUDED.old_name, old_district = EXCLUDED.old_district, old_province = EXCLUDED.old_province,
    new_name = EXCLUDED.new_name, relation = EXCLUDED.relation, note = EXCLUDED.note, source = EXCLUDED.source
WHERE (x.old_name, x.old_district, x.old_province, x.new_name, x.relation, x.note, x.source)
   IS DISTINCT FROM
      (EXCLUDED.old_name, EXCLUDED.old_district, EXCLUDED.old_province, EXCLUDED.new_name,
       EXCLUDED.relation, EXCLUDED.note, EXCLUDED.source)
RETURNING (xmax = 0) AS inserted
"""


def _count_upserts(cur: psycopg.Cursor[Any], total: int) -> dict[str, int]:
    inserted = updated = 0
    while True:
        for (was_insert,) in cur.fetchall():
            if was_insert:
                inserted += 1
            else:
                updated += 1
        if not cur.nextset():
            break
    return {"inserted": inserted, "updated": updated, "unchanged": total - inserted - updated}


def upsert_boundary_version(conn: psycopg.Connection[Any], version: dict[str, Any]) -> int:
    """Insert or refresh one boundary version's metadata; return 1 when it changed."""
    return conn.execute(UPSERT_VERSION, version).rowcount


def upsert_units(conn: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> dict[str, int]:
    """Upsert units; return how many were inserted, updated and left unchanged."""
    with conn.cursor() as cur:
        cur.executemany(UPSERT_UNIT, rows, returning=True)
        return _count_upserts(cur, len(rows))


def link_parents(conn: psycopg.Connection[Any]) -> int:
    """Point every unit at its parent unit; return how many links changed."""
    return conn.execute(LINK_PARENTS).rowcount


def upsert_crosswalk(conn: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> dict[str, int]:
    """Upsert the raw old → new rows; return the counts."""
    with conn.cursor() as cur:
        cur.executemany(UPSERT_CROSSWALK, rows, returning=True)
        return _count_upserts(cur, len(rows))


# --- read side (asyncpg, for the API) ---------------------------------------------------------------

SELECT_UNITS = """
SELECT u.code, u.level, u.unit_type, u.name_vi, u.full_name_vi, u.name_ascii, u.name_en, u.full_name_en,
       u.parent_code, u.valid_from, u.valid_to, u.boundary_version, u.geom_quality,
       u.area_km2, u.area_km2_official, (u.geom IS NOT NULL) AS has_geometry,
       count(*) OVER () AS number_matched
FROM admin.admin_unit u
WHERE ($1::text IS NULL OR u.level = $1)
  AND u.valid_from <= $2::date AND (u.valid_to IS NULL OR $2::date <= u.valid_to)
  AND ($3::text IS NULL OR strpos(u.name_ascii, public.f_unaccent($3)) > 0
       OR u.code = $3 OR u.name_ascii % public.f_unaccent($3))
  AND ($4::text IS NULL OR u.parent_code = $4)
ORDER BY
  CASE WHEN $3::text IS NULL THEN 0 ELSE 1 - similarity(u.name_ascii, public.f_unaccent($3)) END,
  u.level, u.code
LIMIT $5 OFFSET $6
"""

SELECT_UNIT = """
SELECT u.code, u.level, u.unit_type, u.name_vi, u.full_name_vi, u.name_ascii, u.name_en, u.full_name_en,
       u.parent_code, u.valid_from, u.valid_to, u.boundary_version, u.geom_quality,
       u.area_km2, u.area_km2_official, (u.geom IS NOT NULL) AS has_geometry,
       ST_AsGeoJSON(u.geom, 7)::text AS geometry,
       b.source, b.licence, b.attribution
FROM admin.admin_unit u JOIN admin.boundary_version b ON b.id = u.boundary_version
WHERE u.code = $1 AND u.valid_from <= $2::date AND (u.valid_to IS NULL OR $2::date <= u.valid_to)
  AND ($3::text IS NULL OR u.level = $3)
ORDER BY CASE u.level WHEN 'ward' THEN 0 WHEN 'district' THEN 1 WHEN 'city' THEN 2 ELSE 3 END
LIMIT 1
"""


async def select_units(
    conn: asyncpg.Connection,
    *,
    level: str | None,
    at: date,
    q: str | None,
    parent: str | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    """Units valid on ``at``, filtered and ranked by name similarity when ``q`` is given."""
    rows: list[asyncpg.Record] = await conn.fetch(SELECT_UNITS, level, at, q, parent, limit, offset)
    return rows


async def select_unit(
    conn: asyncpg.Connection, code: str, at: date, level: str | None
) -> asyncpg.Record | None:
    """One unit valid on ``at`` with its GeoJSON geometry and its boundary version's source."""
    row: asyncpg.Record | None = await conn.fetchrow(SELECT_UNIT, code, at, level)
    return row


SELECT_AT_POINT = """
SELECT u.code, u.level, u.unit_type, u.name_vi, u.full_name_vi, u.name_ascii, u.name_en, u.full_name_en,
       u.parent_code, u.valid_from, u.valid_to, u.boundary_version, u.geom_quality,
       u.area_km2, u.area_km2_official, true AS has_geometry
FROM admin.admin_unit u
WHERE u.level = $1 AND u.valid_from <= $2::date AND (u.valid_to IS NULL OR $2::date <= u.valid_to)
  AND ST_Intersects(u.geom, ST_SetSRID(ST_MakePoint($3, $4), 4326))
ORDER BY u.code
LIMIT 1
"""

# The whole boundary set as one GeoJSON text built in PostGIS (168 wards: ~0.5 MB simplified).
SELECT_BOUNDARIES = """
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', coalesce(json_agg(json_build_object(
        'type', 'Feature',
        'id', u.code,
        -- ST_Simplify keeping collapsed parts: ~15x faster than ST_SimplifyPreserveTopology on the
        -- 2025 wards (10 ms vs 170 ms) for the same drawing; it is on the web map's first-render path
        'geometry', ST_AsGeoJSON(ST_Simplify(u.geom, $3, true), 6)::json,
        'properties', json_build_object(
            'code', u.code, 'level', u.level, 'name_vi', u.name_vi, 'full_name_vi', u.full_name_vi,
            'name_en', u.name_en, 'parent_code', u.parent_code, 'area_km2', round(u.area_km2::numeric, 3),
            'geom_quality', u.geom_quality)
    ) ORDER BY u.code), '[]'::json)
)::text
FROM admin.admin_unit u
WHERE u.level = $1 AND u.valid_from <= $2::date AND (u.valid_to IS NULL OR $2::date <= u.valid_to)
  AND u.geom IS NOT NULL
  AND ($4::text IS NULL OR u.parent_code = $4)
"""


async def select_unit_at_point(
    conn: asyncpg.Connection, level: str, at: date, lon: float, lat: float
) -> asyncpg.Record | None:
    """The unit of ``level`` valid on ``at`` that contains the point."""
    row: asyncpg.Record | None = await conn.fetchrow(SELECT_AT_POINT, level, at, lon, lat)
    return row


async def select_boundaries(
    conn: asyncpg.Connection, level: str, at: date, tolerance: float, parent: str | None
) -> str:
    """A GeoJSON FeatureCollection (text) of the units of ``level`` valid on ``at``."""
    text: str = await conn.fetchval(SELECT_BOUNDARIES, level, at, tolerance, parent)
    return text
