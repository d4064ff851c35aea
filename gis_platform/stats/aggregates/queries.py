"""SQL of the layer aggregates (psycopg for the computation, asyncpg for the API); the only place it lives.

Atoms: the boundaries of every aggregated unit (city, district, ward, neighbourhood; all boundary
versions) are noded together on a grid of 1e-7 degree (about 1 cm; ``ST_UnaryUnion`` with a grid
size, i.e. snap-rounding, which cannot fail or drop edges) and polygonized once; each face ("atom")
knows the units it lies in (those containing its ``ST_PointOnSurface``) and is cut by ``ST_Subdivide``
into small pieces under a GiST index. A feature is looked up once among the pieces, whatever the
number of levels, and its atom's units receive it. The grid means a feature within about a centimetre
of a border may be counted on the other side of it.

Border rule: a point strictly inside a piece (``ST_ContainsProperly``) belongs to that piece's atom. A
point on a piece's edge (a unit border, or a cut between pieces) touches several pieces: it belongs to
the atom with the smallest id among them (``DISTINCT ON``), so it counts once in every level, for one
of the units whose border it is on. Lines and polygons count once in every unit they enter, with the
length or area of the part inside the unit (ellipsoidal: ``ST_Length``/``ST_Area`` of ``geography``,
like ``admin_unit.area_km2``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

Conn = psycopg.Connection[Any]

#: Levels that get aggregates (residential groups are too many and too small to be useful here).
LEVELS = ("city", "district", "ward", "neighbourhood")
#: Vertices per piece: small pieces make point-in-polygon tests cheap and index boxes tight.
MAX_VERTICES = 64
#: Advisory lock keys (first int of the two-int form): pieces (global) and one version.
LOCK_PIECES = 7_105_001
LOCK_VERSION = 7_105_002

GRID = 1e-7

UNITS_FINGERPRINT = """
SELECT md5(coalesce(string_agg(id::text || ':' || md5(ST_AsEWKB(geom)), ',' ORDER BY id), '')), count(*)
FROM admin.admin_unit WHERE level = ANY(%(levels)s) AND geom IS NOT NULL
"""

ATOMS_FINGERPRINT = "SELECT fingerprint FROM stats.unit_atom_state"

BUILD_ATOMS = (
    "DELETE FROM stats.unit_atom",
    """
INSERT INTO stats.unit_atom (id, geom)
SELECT row_number() OVER (), d.geom
FROM (SELECT ST_Polygonize(edges) AS faces
      FROM (SELECT ST_UnaryUnion(ST_Collect(ST_Boundary(geom)), %(grid)s) AS edges FROM admin.admin_unit
            WHERE level = ANY(%(levels)s) AND geom IS NOT NULL) noded) p,
     LATERAL ST_Dump(p.faces) AS d
""",
    """
INSERT INTO stats.unit_atom_member (atom_id, unit_id)
SELECT a.id, u.id
FROM stats.unit_atom a CROSS JOIN LATERAL (SELECT ST_PointOnSurface(a.geom) AS pt) s
JOIN admin.admin_unit u ON u.level = ANY(%(levels)s) AND u.geom IS NOT NULL AND ST_Intersects(u.geom, s.pt)
""",
    "DELETE FROM stats.unit_atom a WHERE NOT EXISTS (SELECT 1 FROM stats.unit_atom_member m WHERE m.atom_id = a.id)",
    """
INSERT INTO stats.unit_atom_piece (atom_id, geom)
SELECT a.id, piece FROM stats.unit_atom a, LATERAL ST_Subdivide(a.geom, %(max_vertices)s) AS piece
WHERE ST_Dimension(piece) = 2
""",
    """
INSERT INTO stats.unit_atom_state (id, fingerprint, units, atoms, pieces, seconds)
VALUES (true, %(fingerprint)s, %(units)s, (SELECT count(*) FROM stats.unit_atom),
        (SELECT count(*) FROM stats.unit_atom_piece), 0)
ON CONFLICT (id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, units = EXCLUDED.units,
    atoms = EXCLUDED.atoms, pieces = EXCLUDED.pieces, built_at = now()
""",
)

# one statement per version; %(...)s binds values, {table} is an Identifier. The LATERAL subquery
# (OFFSET 0 keeps it from being flattened) makes every piece the outer side: its prepared polygon is
# reused for all the features its index scan finds, instead of one piece lookup per feature.
POINTS = """
WITH g AS (
    SELECT p.atom_id, CASE WHEN f.inside THEN NULL ELSE f.fid END AS edge_fid, count(*) AS n
    FROM stats.unit_atom_piece p
    CROSS JOIN LATERAL (
        SELECT fid, geom, ST_ContainsProperly(p.geom, geom) AS inside FROM layerdata.{table}
        WHERE p.geom && geom OFFSET 0
    ) f
    WHERE f.inside OR ST_Intersects(p.geom, f.geom)  -- one test for most points: ST_Intersects only near edges
    GROUP BY 1, 2
), per_atom AS (
    SELECT atom_id, n FROM g WHERE edge_fid IS NULL
    UNION ALL
    SELECT * FROM (SELECT DISTINCT ON (edge_fid) atom_id, 1::bigint FROM g WHERE edge_fid IS NOT NULL
                   ORDER BY edge_fid, atom_id) e
)
INSERT INTO stats.layer_aggregate (layer_version_id, unit_id, feature_count)
SELECT %(version_id)s, m.unit_id, sum(a.n)::bigint
FROM per_atom a JOIN stats.unit_atom_member m ON m.atom_id = a.atom_id
GROUP BY m.unit_id
"""

SHAPES = """
WITH hit AS (
    SELECT p.atom_id, f.fid, ST_Dimension(f.geom) AS dim,
           CASE WHEN ST_Dimension(f.geom) = 0 THEN NULL
                WHEN ST_CoveredBy(f.geom, p.geom) THEN f.geom
                ELSE ST_Intersection(f.geom, p.geom) END AS part
    FROM stats.unit_atom_piece p
    CROSS JOIN LATERAL (SELECT fid, geom FROM layerdata.{table} WHERE ST_Intersects(p.geom, geom) OFFSET 0) f
), measured AS MATERIALIZED (  -- measure each (piece, feature) part once, not once per unit it is in
    SELECT atom_id, fid, dim,
           CASE WHEN dim = 1 THEN ST_Length(ST_CollectionExtract(part, 2)::geography) END AS len,
           CASE WHEN dim = 2 THEN ST_Area(ST_CollectionExtract(part, 3)::geography) END AS area
    FROM hit
), per_unit AS (
    SELECT m.unit_id, x.fid, x.dim, x.len, x.area
    FROM measured x JOIN stats.unit_atom_member m ON m.atom_id = x.atom_id
    WHERE x.dim = 0 OR x.len > 0 OR x.area > 0
)
INSERT INTO stats.layer_aggregate (layer_version_id, unit_id, feature_count, length_m, area_m2)
SELECT %(version_id)s, unit_id, count(DISTINCT fid),
       CASE WHEN bool_or(dim = 1) THEN coalesce(sum(len), 0) END,
       CASE WHEN bool_or(dim = 2) THEN coalesce(sum(area), 0) END
FROM per_unit GROUP BY unit_id
"""

SELECT_VERSIONS = """
SELECT v.id, l.id AS layer_id, l.slug, v.version, v.table_name, coalesce(v.geometry_type, l.geometry_type)
       AS geometry_type, v.feature_count, r.boundaries
FROM catalogue.layer l JOIN catalogue.layer_version v ON v.layer_id = l.id AND v.status = 'published'
LEFT JOIN stats.layer_aggregate_run r ON r.layer_version_id = v.id
WHERE (%(slugs)s::text[] IS NULL OR l.slug = ANY(%(slugs)s))
ORDER BY l.slug
"""

SELECT_VERSION = """
SELECT v.id, l.id AS layer_id, l.slug, v.version, v.table_name, v.status,
       coalesce(v.geometry_type, l.geometry_type) AS geometry_type, v.feature_count
FROM catalogue.layer_version v JOIN catalogue.layer l ON l.id = v.layer_id WHERE v.id = %(id)s
"""

UPSERT_RUN = """
INSERT INTO stats.layer_aggregate_run (layer_version_id, layer_id, version, boundaries, units, features, seconds)
VALUES (%(version_id)s, %(layer_id)s, %(version)s, %(boundaries)s, 0, 0, 0)
ON CONFLICT (layer_version_id) DO UPDATE SET boundaries = EXCLUDED.boundaries, computed_at = now()
"""

FINISH_RUN = """
UPDATE stats.layer_aggregate_run SET units = %(units)s, features = %(features)s, seconds = %(seconds)s
WHERE layer_version_id = %(version_id)s
"""

# aggregates of versions that are no longer published are dropped (a rollback recomputes on its event)
DELETE_UNPUBLISHED = """
DELETE FROM stats.layer_aggregate_run r USING catalogue.layer_version v
WHERE v.id = r.layer_version_id AND v.status <> 'published' AND (%(layer_id)s::bigint IS NULL OR r.layer_id = %(layer_id)s)
"""


def lock_pieces(conn: Conn) -> None:
    """Serialise atom rebuilds (transaction-scoped)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_PIECES,))


def try_lock_version(conn: Conn, version_id: int) -> bool:
    """Claim one version for this transaction; False when another session computes it."""
    row = conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s::int)", (LOCK_VERSION, version_id)).fetchone()
    return bool(row and row[0])


def units_fingerprint(conn: Conn) -> tuple[str, int]:
    """A digest of the aggregated units' ids and geometries, and how many there are."""
    row = conn.execute(UNITS_FINGERPRINT, {"levels": list(LEVELS)}).fetchone()
    return (str(row[0]), int(row[1])) if row else ("", 0)


def atoms_fingerprint(conn: Conn) -> str | None:
    """The units' digest the atoms were built from (None before the first build)."""
    row = conn.execute(ATOMS_FINGERPRINT).fetchone()
    return str(row[0]) if row else None


def build_atoms(conn: Conn, fingerprint: str, units: int) -> dict[str, int]:
    """Rebuild the atoms, their units and pieces (one transaction); return their numbers."""
    conn.execute("SET LOCAL jit = off")
    params = {"levels": list(LEVELS), "max_vertices": MAX_VERTICES, "fingerprint": fingerprint, "units": units,
              "grid": GRID}  # fmt: skip
    for statement in BUILD_ATOMS:
        conn.execute(statement, {k: v for k, v in params.items() if f"%({k})s" in statement})
    conn.execute("ANALYZE stats.unit_atom_piece")
    conn.execute("ANALYZE stats.unit_atom_member")
    row = conn.execute("SELECT atoms, pieces FROM stats.unit_atom_state").fetchone()
    return {"units": units, "atoms": int(row[0]), "pieces": int(row[1])} if row else {}


def set_build_seconds(conn: Conn, seconds: float) -> None:
    """Record how long the atoms took."""
    conn.execute("UPDATE stats.unit_atom_state SET seconds = %s", (seconds,))


def select_versions(conn: Conn, slugs: Sequence[str] | None) -> list[dict[str, Any]]:
    """Published versions (of ``slugs``, or all) with the boundaries their aggregates were computed on."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SELECT_VERSIONS, {"slugs": list(slugs) if slugs else None}).fetchall()


def select_version(conn: Conn, version_id: int) -> dict[str, Any] | None:
    """One version with its layer."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SELECT_VERSION, {"id": version_id}).fetchone()


def select_version_by_slug(conn: Conn, slug: str, version: int) -> int | None:
    """The id of ``slug``'s version ``version``."""
    row = conn.execute(
        "SELECT v.id FROM catalogue.layer_version v JOIN catalogue.layer l ON l.id = v.layer_id "
        "WHERE l.slug = %s AND v.version = %s",
        (slug, version),
    ).fetchone()
    return int(row[0]) if row else None


def run_boundaries(conn: Conn, version_id: int) -> str | None:
    """The fingerprint a version's aggregates were computed on, or None."""
    row = conn.execute(
        "SELECT boundaries FROM stats.layer_aggregate_run WHERE layer_version_id = %s", (version_id,)
    ).fetchone()
    return str(row[0]) if row else None


def compute(conn: Conn, version: dict[str, Any], boundaries: str, *, points: bool) -> int:
    """Replace the aggregates of one version with one set-based statement; return the rows written."""
    params = {"version_id": version["id"], "layer_id": version["layer_id"], "version": version["version"],
              "boundaries": boundaries}  # fmt: skip
    conn.execute("SET LOCAL jit = off")  # compiling the expressions costs more than it saves here
    conn.execute("DELETE FROM stats.layer_aggregate WHERE layer_version_id = %s", (version["id"],))
    conn.execute(UPSERT_RUN, params)
    statement = sql.SQL(POINTS if points else SHAPES).format(table=sql.Identifier(version["table_name"]))
    return conn.execute(statement, params).rowcount


def finish_run(conn: Conn, version_id: int, units: int, features: int, seconds: float) -> None:
    """Record the size and duration of a run."""
    params = {"version_id": version_id, "units": units, "features": features, "seconds": seconds}
    conn.execute(FINISH_RUN, params)


def delete_unpublished(conn: Conn, layer_id: int | None) -> int:
    """Drop the aggregates of versions that are no longer published; return how many versions."""
    return conn.execute(DELETE_UNPUBLISHED, {"layer_id": layer_id}).rowcount


# --- read side (asyncpg, for the API) ------------------------------------------------------------------

LAYER = """
SELECT l.id, l.slug, l.title_vi, l.title_en, l.geometry_type, l.visibility, l.synthetic, v.id AS version_id,
       v.version, r.computed_at, r.layer_version_id IS NOT NULL AS computed
FROM catalogue.layer l
JOIN catalogue.layer_version v ON v.layer_id = l.id AND v.version = l.current_version AND v.status = 'published'
LEFT JOIN stats.layer_aggregate_run r ON r.layer_version_id = v.id
WHERE l.slug = $1 AND (l.visibility = 'public' OR $2)
"""

UNITS = """
SELECT u.code, u.name_vi, u.boundary_version, u.area_km2, a.feature_count, a.length_m, a.area_m2
FROM admin.admin_unit u
LEFT JOIN stats.layer_aggregate a ON a.unit_id = u.id AND a.layer_version_id = $1
WHERE u.level = $2 AND u.valid_from <= $3::date AND (u.valid_to IS NULL OR $3::date <= u.valid_to)
  AND u.geom IS NOT NULL
ORDER BY u.code
"""

TOP_OF_UNIT = """
SELECT l.slug, l.title_vi, l.title_en, l.geometry_type, v.version, a.feature_count, a.length_m, a.area_m2
FROM admin.admin_unit u
JOIN stats.layer_aggregate a ON a.unit_id = u.id
JOIN catalogue.layer_version v ON v.id = a.layer_version_id AND v.status = 'published'
JOIN catalogue.layer l ON l.id = v.layer_id AND l.current_version = v.version
WHERE u.boundary_version = $1 AND u.level = $2 AND u.code = $3 AND (l.visibility = 'public' OR $4)
ORDER BY a.feature_count DESC, l.slug
LIMIT $5
"""


async def fetch_layer(conn: asyncpg.Connection, slug: str, internal: bool) -> asyncpg.Record | None:
    """A layer (public, or any when ``internal``) with its published version and whether it is computed."""
    row: asyncpg.Record | None = await conn.fetchrow(LAYER, slug, internal)
    return row


async def fetch_units(
    conn: asyncpg.Connection, version_id: int, level: str, at: date
) -> list[asyncpg.Record]:
    """Units of ``level`` valid on ``at`` with the version's aggregates (NULL where it has none)."""
    rows: list[asyncpg.Record] = await conn.fetch(UNITS, version_id, level, at)
    return rows


async def fetch_top_of_unit(
    conn: asyncpg.Connection, key: tuple[str, str, str], internal: bool, limit: int
) -> list[asyncpg.Record]:
    """The aggregates of one unit over the current versions of the layers, most features first."""
    rows: list[asyncpg.Record] = await conn.fetch(TOP_OF_UNIT, *key, internal, limit)
    return rows
