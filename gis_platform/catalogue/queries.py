"""SQL of the catalogue: the only place it lives (psycopg for `layers sync`, asyncpg for the API)."""

from __future__ import annotations

from typing import Any

import asyncpg
import psycopg
from psycopg import sql

from gis_platform.events import CHANGED

# --- write side (psycopg, `layers sync`) ----------------------------------------------------------

UPSERT_CATEGORY = """
INSERT INTO catalogue.category AS c (id, title_vi, title_en, sort_order)
VALUES (%(id)s, %(title_vi)s, %(title_en)s, %(sort_order)s)
ON CONFLICT (id) DO UPDATE SET
    title_vi = EXCLUDED.title_vi, title_en = EXCLUDED.title_en, sort_order = EXCLUDED.sort_order
WHERE (c.title_vi, c.title_en, c.sort_order) IS DISTINCT FROM
      (EXCLUDED.title_vi, EXCLUDED.title_en, EXCLUDED.sort_order)
RETURNING (xmax = 0) AS inserted
"""

SELECT_LAYER_STATE = """
SELECT l.slug, l.manifest_checksum, l.managed_by, l.current_version, v.checksum AS data_checksum
FROM catalogue.layer l
LEFT JOIN catalogue.layer_version v ON v.layer_id = l.id AND v.version = l.current_version
"""

# Only manifest-managed rows are rewritten, and only when the manifest changed.
UPSERT_LAYER = """
INSERT INTO catalogue.layer AS l
    (slug, title_vi, title_en, description_vi, description_en, category, agency, licence, attribution,
     keywords, update_frequency, geometry_type, visibility, synthetic, style, tile_settings,
     attribute_schema, source, manifest_checksum, managed_by, search_text)
VALUES (%(slug)s, %(title_vi)s, %(title_en)s, %(description_vi)s, %(description_en)s, %(category)s,
        %(agency)s, %(licence)s, %(attribution)s, %(keywords)s, %(update_frequency)s, %(geometry_type)s,
        %(visibility)s, %(synthetic)s, %(style)s::jsonb, %(tile_settings)s::jsonb,
        %(attribute_schema)s::jsonb, %(source)s::jsonb, %(manifest_checksum)s, 'manifest', %(search_text)s)
ON CONFLICT (slug) DO UPDATE SET
    title_vi = EXCLUDED.title_vi, title_en = EXCLUDED.title_en, description_vi = EXCLUDED.description_vi,
    description_en = EXCLUDED.description_en, category = EXCLUDED.category, agency = EXCLUDED.agency,
    licence = EXCLUDED.licence, attribution = EXCLUDED.attribution, keywords = EXCLUDED.keywords,
    update_frequency = EXCLUDED.update_frequency, geometry_type = EXCLUDED.geometry_type,
    visibility = EXCLUDED.visibility, synthetic = EXCLUDED.synthetic, style = EXCLUDED.style,
    tile_settings = EXCLUDED.tile_settings, attribute_schema = EXCLUDED.attribute_schema,
    source = EXCLUDED.source, manifest_checksum = EXCLUDED.manifest_checksum,
    search_text = EXCLUDED.search_text, updated_at = now()
WHERE l.managed_by = 'manifest' AND l.manifest_checksum IS DISTINCT FROM EXCLUDED.manifest_checksum
"""


def _count_upserts(cur: psycopg.Cursor[Any], total: int) -> dict[str, int]:
    inserted = updated = 0
    while True:
        for (was_insert,) in cur.fetchall():
            inserted += bool(was_insert)
            updated += not was_insert
        if not cur.nextset():
            break
    return {"created": inserted, "updated": updated, "unchanged": total - inserted - updated}


def upsert_categories(conn: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> dict[str, int]:
    """Upsert categories; return how many were created, updated and left unchanged."""
    if not rows:
        return {"created": 0, "updated": 0, "unchanged": 0}
    with conn.cursor() as cur:
        cur.executemany(UPSERT_CATEGORY, rows, returning=True)
        return _count_upserts(cur, len(rows))


def select_layer_state(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    """Every layer's manifest checksum, owner and published data checksum, by slug."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return {row["slug"]: row for row in cur.execute(SELECT_LAYER_STATE)}


def upsert_layers(conn: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> None:
    """Insert or refresh layer metadata in one pipelined batch."""
    if rows:
        with conn.cursor() as cur:
            cur.executemany(UPSERT_LAYER, rows)


def notify_changed(conn: psycopg.Connection[Any], slug: str) -> None:
    """Tell every worker at commit that a layer's metadata changed (``gis_layer_changed``)."""
    conn.execute("SELECT pg_notify(%s, %s)", (CHANGED, slug))


# --- read side (asyncpg, the API) -----------------------------------------------------------------

# $1 category, $2 agency, $3 geometry type, $4 synthetic, $5 limit, $6 offset, $7 internal layers
# visible too. Every row carries number_matched; a page past the end is one row with only number_matched.
LIST_LAYERS = """
WITH matched AS (
    SELECT
        l.slug, l.title_vi, l.title_en, l.description_vi, l.description_en, l.category,
        c.title_vi AS category_title_vi, c.title_en AS category_title_en, l.agency, l.licence, l.attribution,
        l.geometry_type, l.synthetic, l.visibility, l.current_version, v.feature_count, v.bbox, l.keywords,
        l.update_frequency, c.sort_order
    FROM catalogue.layer l
    JOIN catalogue.category c ON c.id = l.category
    LEFT JOIN catalogue.layer_version v ON v.layer_id = l.id AND v.version = l.current_version
    WHERE (l.visibility = 'public' OR $7::boolean)
      AND ($1::text IS NULL OR l.category = $1)
      AND ($2::text IS NULL OR public.f_unaccent(l.agency) = public.f_unaccent($2))
      AND ($3::text IS NULL OR l.geometry_type = $3)
      AND ($4::boolean IS NULL OR l.synthetic = $4)
),
total AS (SELECT count(*) AS number_matched FROM matched)
SELECT total.number_matched, page.*
FROM total
LEFT JOIN LATERAL (SELECT * FROM matched ORDER BY sort_order, title_vi, slug LIMIT $5 OFFSET $6) page ON true
"""

# $1 q folded by gis_platform.text.fold (as search_text is), $2 q as a LIKE pattern, $3 q lower-cased
# with its diacritics (NULL when it has none: a title spelling the query with the same diacritics
# gets a bonus, so "chợ" ranks markets above "dành cho"), then the filters, limit and offset as above
# (shifted by three), $10 internal layers visible too. Titles are folded here with public.f_unaccent.
# Ranking weighs the Vietnamese title most, then the English title, then everything in search_text;
# `%>` (word similarity, threshold 0.6) and LIKE both use the GIN trigram index layer_search_trgm.
SEARCH_LAYERS = """
WITH matched AS (
    SELECT
        l.slug, l.title_vi, l.title_en, l.description_vi, l.description_en, l.category,
        c.title_vi AS category_title_vi, c.title_en AS category_title_en, l.agency, l.licence, l.attribution,
        l.geometry_type, l.synthetic, l.visibility, l.current_version, v.feature_count, v.bbox, l.keywords,
        l.update_frequency, c.sort_order,
        3 * word_similarity($1, t.title_vi) + word_similarity($1, t.title_en) + word_similarity($1, l.search_text)
        + similarity($1, t.title_vi)
        + CASE WHEN strpos(lower(l.title_vi), $3) > 0 THEN 1 ELSE 0 END AS rank
    FROM catalogue.layer l
    CROSS JOIN LATERAL (
        SELECT public.f_unaccent(l.title_vi) AS title_vi, public.f_unaccent(l.title_en) AS title_en
    ) t
    JOIN catalogue.category c ON c.id = l.category
    LEFT JOIN catalogue.layer_version v ON v.layer_id = l.id AND v.version = l.current_version
    WHERE (l.search_text %> $1 OR l.search_text LIKE $2)
      AND (l.visibility = 'public' OR $10::boolean)
      AND ($4::text IS NULL OR l.category = $4)
      AND ($5::text IS NULL OR public.f_unaccent(l.agency) = public.f_unaccent($5))
      AND ($6::text IS NULL OR l.geometry_type = $6)
      AND ($7::boolean IS NULL OR l.synthetic = $7)
),
total AS (SELECT count(*) AS number_matched FROM matched)
SELECT total.number_matched, page.*
FROM total
LEFT JOIN LATERAL (
    SELECT * FROM matched ORDER BY rank DESC, sort_order, title_vi, slug LIMIT $8 OFFSET $9
) page ON true
"""

# The planner costs `%>` like an equality although word_similarity takes ~20 µs a row, so on a table
# of a few hundred layers it scans them all (about twice as slow as the trigram index). Only inside
# the read-only transaction of one search.
PREFER_TRIGRAM_INDEX = "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off"


def contains_pattern(q: str) -> str:
    """A LIKE pattern matching ``q`` anywhere, with LIKE's wildcards escaped."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


SELECT_LAYER = """
SELECT
    l.slug, l.title_vi, l.title_en, l.description_vi, l.description_en, l.category,
    c.title_vi AS category_title_vi, c.title_en AS category_title_en, l.agency, l.licence, l.attribution,
    l.geometry_type, l.synthetic, l.visibility, l.current_version, v.feature_count, v.bbox, l.keywords,
    l.update_frequency, l.id, l.attribute_schema::text AS attribute_schema, l.style::text AS style,
    l.tile_settings::text AS tile_settings, l.created_at, l.updated_at
FROM catalogue.layer l
JOIN catalogue.category c ON c.id = l.category
LEFT JOIN catalogue.layer_version v ON v.layer_id = l.id AND v.version = l.current_version
WHERE l.slug = $1 AND (l.visibility = 'public' OR $2::boolean)
"""

SELECT_VERSIONS = """
SELECT version, status, feature_count, checksum, created_at, published_at, author
FROM catalogue.layer_version
WHERE layer_id = $1
ORDER BY version DESC
"""

SELECT_CATEGORIES = """
SELECT c.id, c.title_vi, c.title_en, count(l.id) AS count
FROM catalogue.category c
LEFT JOIN catalogue.layer l ON l.category = c.id AND (l.visibility = 'public' OR $1::boolean)
GROUP BY c.id
ORDER BY c.sort_order, c.id
"""


async def search_layers(
    conn: asyncpg.Connection,
    *,
    q: str | None,
    q_accented: str | None,
    category: str | None,
    agency: str | None,
    geometry_type: str | None,
    synthetic: bool | None,
    limit: int,
    offset: int,
    internal: bool = False,
) -> list[asyncpg.Record]:
    """One page of layers (internal ones too if ``internal``), ranked by ``q`` (folded) when given."""
    filters = (category, agency, geometry_type, synthetic, limit, offset, internal)
    if q is None:
        rows: list[asyncpg.Record] = await conn.fetch(LIST_LAYERS, *filters)
        return rows
    async with conn.transaction(readonly=True):
        await conn.execute(PREFER_TRIGRAM_INDEX)
        rows = await conn.fetch(SEARCH_LAYERS, q, contains_pattern(q), q_accented, *filters)
    return rows


async def select_layer(conn: asyncpg.Connection, slug: str, internal: bool = False) -> asyncpg.Record | None:
    """One layer by slug: public, or any when ``internal``."""
    row: asyncpg.Record | None = await conn.fetchrow(SELECT_LAYER, slug, internal)
    return row


async def select_versions(conn: asyncpg.Connection, layer_id: int) -> list[asyncpg.Record]:
    """A layer's versions, newest first."""
    rows: list[asyncpg.Record] = await conn.fetch(SELECT_VERSIONS, layer_id)
    return rows


async def select_categories(conn: asyncpg.Connection, internal: bool = False) -> list[asyncpg.Record]:
    """Categories with their number of visible layers."""
    rows: list[asyncpg.Record] = await conn.fetch(SELECT_CATEGORIES, internal)
    return rows


# --- write side (asyncpg, admins: PATCH and DELETE /catalogue/layers/{slug}) ----------------------

#: The metadata a PATCH may change, in the order of UPDATE_LAYER_METADATA's $2 … $12.
EDITABLE = (
    "title_vi", "title_en", "description_vi", "description_en", "category", "agency", "licence",
    "attribution", "keywords", "update_frequency", "visibility",
)  # fmt: skip

SELECT_LAYER_FOR_UPDATE = """
SELECT id, slug, current_version, title_vi, title_en, description_vi, description_en, category, agency,
       licence, attribution, keywords, update_frequency, visibility
FROM catalogue.layer
WHERE slug = $1
FOR UPDATE
"""

UPDATE_LAYER_METADATA = """
UPDATE catalogue.layer SET
    title_vi = $2, title_en = $3, description_vi = $4, description_en = $5, category = $6, agency = $7,
    licence = $8, attribution = $9, keywords = $10, update_frequency = $11, visibility = $12,
    search_text = $13, updated_at = now()
WHERE id = $1
"""

LOCK_LAYER = "SELECT pg_advisory_xact_lock(hashtext('gis_platform.layer'), $1::int)"
SELECT_VERSION_TABLES = "SELECT table_name FROM catalogue.layer_version WHERE layer_id = $1 ORDER BY version"
DELETE_LAYER = "DELETE FROM catalogue.layer WHERE id = $1"


async def select_layer_for_update(conn: asyncpg.Connection, slug: str) -> asyncpg.Record | None:
    """Lock a layer's row (any visibility) for a metadata change; None when unknown."""
    row: asyncpg.Record | None = await conn.fetchrow(SELECT_LAYER_FOR_UPDATE, slug)
    return row


async def select_category_titles(conn: asyncpg.Connection, category: str) -> tuple[str, str] | None:
    """A category's titles (vi, en), or None when it does not exist."""
    row = await conn.fetchrow("SELECT title_vi, title_en FROM catalogue.category WHERE id = $1", category)
    return (str(row[0]), str(row[1])) if row else None


async def update_layer_metadata(
    conn: asyncpg.Connection, layer_id: int, values: dict[str, Any], search_text: str
) -> None:
    """Write a layer's editable metadata and search text."""
    await conn.execute(UPDATE_LAYER_METADATA, layer_id, *(values[k] for k in EDITABLE), search_text)


async def delete_layer(conn: asyncpg.Connection, layer_id: int, slug: str) -> list[str]:
    """Drop a layer's view and version tables and its catalogue rows (versions and jobs cascade)."""
    await conn.execute(LOCK_LAYER, layer_id)
    tables = [str(r[0]) for r in await conn.fetch(SELECT_VERSION_TABLES, layer_id)]
    await conn.execute(
        sql.SQL("DROP VIEW IF EXISTS layerdata.{}").format(sql.Identifier(slug)).as_string(None)
    )
    for table in tables:  # with its tile pyramid, if any (gis_platform.tiles.pyramid)
        drop = sql.SQL("DROP TABLE IF EXISTS layerdata.{}, layerdata.{}").format(
            sql.Identifier(table), sql.Identifier(f"{table}_thin")
        )
        await conn.execute(drop.as_string(None))
    await conn.execute(DELETE_LAYER, layer_id)
    return tables
