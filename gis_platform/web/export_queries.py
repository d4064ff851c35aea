"""SQL of the map export (psycopg, sync): the only place it lives."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

BOUNDARIES = """
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', coalesce(json_agg(json_build_object(
        'type', 'Feature', 'id', u.code,
        'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(u.geom, %(tolerance)s), 6)::json,
        'properties', json_build_object('code', u.code, 'name_vi', u.name_vi, 'name_en', u.name_en,
                                        'area_km2', round(u.area_km2::numeric, 3))
    ) ORDER BY u.code), '[]'::json))::text AS geojson,
    min(bv.attribution) AS attribution, min(bv.licence) AS licence
FROM admin.admin_unit u
JOIN admin.boundary_version bv ON bv.id = u.boundary_version
WHERE u.level = %(level)s AND u.valid_from <= %(at)s AND (u.valid_to IS NULL OR %(at)s <= u.valid_to)
  AND u.geom IS NOT NULL
"""

LAYER = """
SELECT slug, title_vi, title_en, licence, attribution, synthetic, geometry_type, current_version
FROM catalogue.layer WHERE slug = %(slug)s
"""

# Attributes as a jsonb object minus the geometry columns; fid is the feature id.
FEATURES = """
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
    'type', 'Feature', 'id', d.fid,
    'geometry', ST_AsGeoJSON(d.geom, 6)::json,
    'properties', to_jsonb(d) - 'geom' - 'geom_3857'
)), '[]'::json))::text
FROM (SELECT * FROM layerdata.{view} ORDER BY fid LIMIT %(limit)s) d
"""

INDICATOR = """
SELECT code, name_vi, name_en, unit, synthetic, licence, source FROM stats.indicator WHERE code = %(code)s
"""

# Observed values of the units of `level` valid on `at`, for the given period or the latest one.
VALUES = """
WITH obs AS (
    SELECT o.unit_code, o.value, o.period
    FROM stats.observation o
    JOIN admin.admin_unit u
      ON u.boundary_version = o.boundary_version AND u.level = o.level AND u.code = o.unit_code
    WHERE o.indicator_code = %(code)s AND o.level = %(level)s
      AND u.valid_from <= %(at)s AND (u.valid_to IS NULL OR %(at)s <= u.valid_to)
)
SELECT unit_code, value, period FROM obs
WHERE period = coalesce(%(period)s, (SELECT max(period) FROM obs))
ORDER BY unit_code
"""


def boundaries(
    conn: psycopg.Connection[Any], level: str, at: date, tolerance: float
) -> dict[str, Any] | None:
    """GeoJSON text of the units of ``level`` on ``at``, with the boundary set's attribution and licence."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(BOUNDARIES, {"level": level, "at": at, "tolerance": tolerance}).fetchone()


def layer(conn: psycopg.Connection[Any], slug: str) -> dict[str, Any] | None:
    """Catalogue metadata of a layer."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LAYER, {"slug": slug}).fetchone()


def features(conn: psycopg.Connection[Any], slug: str, limit: int) -> str:
    """GeoJSON text of the published version of a layer (its ``layerdata`` view), at most ``limit`` features."""
    query = sql.SQL(FEATURES).format(view=sql.Identifier(slug))
    row = conn.execute(query, {"limit": limit}).fetchone()
    return str(row[0]) if row else '{"type": "FeatureCollection", "features": []}'


def stats_available(conn: psycopg.Connection[Any]) -> bool:
    """True when the statistics tables exist (their migration has run)."""
    row = conn.execute("SELECT to_regclass('stats.observation') IS NOT NULL").fetchone()
    return bool(row and row[0])


def indicator(conn: psycopg.Connection[Any], code: str) -> dict[str, Any] | None:
    """An indicator's names, unit and origin."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(INDICATOR, {"code": code}).fetchone()


def indicator_values(
    conn: psycopg.Connection[Any], code: str, level: str, at: date, period: str | None
) -> list[dict[str, Any]]:
    """``[{unit_code, value, period}]`` of an observed indicator."""
    with conn.cursor(row_factory=dict_row) as cur:
        params = {"code": code, "level": level, "at": at, "period": period}
        return cur.execute(VALUES, params).fetchall()
