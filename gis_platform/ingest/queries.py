"""SQL of layer versions: allocation, bulk load, finalisation and atomic publish."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from gis_platform.audit import service as audit
from gis_platform.events import PUBLISHED
from gis_platform.ingest.types import Column
from gis_platform.tiles.queries import PYRAMID_SUFFIX


def select_layer_for_update(conn: psycopg.Connection[Any], slug: str) -> dict[str, Any] | None:
    """Lock and return the layer row (id, slug, current_version, geometry_type)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, slug, current_version, geometry_type FROM catalogue.layer WHERE slug = %s FOR UPDATE",
            (slug,),
        )
        return cur.fetchone()


def lock_layer(conn: psycopg.Connection[Any], layer_id: int) -> None:
    """Serialise writers of one layer for the rest of the transaction (advisory lock)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('gis_platform.layer'), %s::int)", (layer_id,))


def insert_version(conn: psycopg.Connection[Any], layer_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Insert the next version of a layer in status ``loading``; return it."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            INSERT INTO catalogue.layer_version
                (layer_id, version, table_name, status, columns, checksum, source_filename, source_format,
                 source_crs, author)
            SELECT %(layer_id)s, coalesce(max(version), 0) + 1,
                   'l' || %(layer_id)s || '_v' || (coalesce(max(version), 0) + 1),
                   'loading', %(columns)s::jsonb, %(checksum)s, %(source_filename)s, %(source_format)s,
                   %(source_crs)s, %(author)s
            FROM catalogue.layer_version WHERE layer_id = %(layer_id)s
            RETURNING id, layer_id, version, table_name, status
            """,
            {"layer_id": layer_id, **values},
        )
        row = cur.fetchone()
    assert row is not None  # noqa: S101 - INSERT … RETURNING always returns the row
    return row


def create_data_table(conn: psycopg.Connection[Any], table: str, columns: Sequence[Column]) -> None:
    """Create the version's table: ``fid``, typed attributes, ``geom`` (4326) and a stored 3857 copy."""
    attrs = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in columns]
    conn.execute(
        sql.SQL(
            """
            CREATE TABLE layerdata.{table} (
                fid bigint NOT NULL,
                {attrs}
                geom geometry(Geometry, 4326),
                -- computed during COPY: no second pass over the data for the tiles' projection
                geom_3857 geometry(Geometry, 3857)
                    GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED
            )
            """
        ).format(
            table=sql.Identifier(table),
            attrs=sql.SQL("").join(sql.SQL("{},\n").format(a) for a in attrs),
        )
    )


def copy_statement(table: str, columns: Sequence[Column]) -> sql.Composed:
    """``COPY`` of fid, attributes and hex-EWKB geometry in CSV form."""
    names = [sql.Identifier("fid"), *(sql.Identifier(c.name) for c in columns), sql.Identifier("geom")]
    return sql.SQL("COPY layerdata.{} ({}) FROM STDIN (FORMAT csv, HEADER false)").format(
        sql.Identifier(table), sql.SQL(", ").join(names)
    )


#: How many feature numbers a report lists per problem.
REPORT_SAMPLE = 100


def repair_geometries(
    conn: psycopg.Connection[Any], table: str, *, polygonal_or_lineal: bool
) -> dict[str, Any]:
    """Drop null/empty geometries, repair invalid ones; return the counts and the first feature numbers."""
    t = sql.Identifier(table)
    delete_empty = sql.SQL(
        "DELETE FROM layerdata.{} WHERE geom IS NULL OR ST_IsEmpty(geom) RETURNING fid"
    ).format(t)
    dropped, dropped_fids = _counted(conn, delete_empty)
    repaired, repaired_fids = 0, list[int]()
    if polygonal_or_lineal:
        repaired, repaired_fids = _counted(
            conn,
            sql.SQL(
                """
                UPDATE layerdata.{t} SET geom = ST_CollectionExtract(ST_MakeValid(geom), {dim})
                WHERE NOT ST_IsValid(geom) RETURNING fid
                """
            ).format(t=t, dim=sql.SQL("ST_Dimension(geom) + 1")),
        )
        # a repair can leave nothing of the original dimension
        more, more_fids = _counted(conn, delete_empty)
        dropped += more
        dropped_fids = sorted(dropped_fids + more_fids)[:REPORT_SAMPLE]
    return {
        "dropped_empty": dropped, "repaired": repaired,
        "dropped_empty_features": dropped_fids, "repaired_features": repaired_fids,
    }  # fmt: skip


def _counted(conn: psycopg.Connection[Any], statement: sql.Composed) -> tuple[int, list[int]]:
    """Run a ``... RETURNING fid`` statement; return its row count and the smallest fids."""
    row = conn.execute(
        sql.SQL(
            "WITH changed AS ({}) SELECT count(*), (array_agg(fid ORDER BY fid))[1:{}] FROM changed"
        ).format(statement, sql.Literal(REPORT_SAMPLE))
    ).fetchone()
    assert row is not None  # noqa: S101 - an aggregate always returns a row
    return int(row[0]), [int(f) for f in row[1] or []]


def geometry_types(conn: psycopg.Connection[Any], table: str) -> dict[str, int]:
    """Count features per geometry type."""
    rows = conn.execute(
        sql.SQL("SELECT GeometryType(geom), count(*) FROM layerdata.{} GROUP BY 1").format(
            sql.Identifier(table)
        )
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def promote_to_multi(conn: psycopg.Connection[Any], table: str) -> int:
    """Turn single geometries into Multi* (for layers that mix the two); return rows changed."""
    return conn.execute(
        sql.SQL(
            "UPDATE layerdata.{} SET geom = ST_Multi(geom) WHERE GeometryType(geom) NOT LIKE 'MULTI%%'"
        ).format(sql.Identifier(table))
    ).rowcount


def index_statements(table: str) -> list[sql.Composed]:
    """Index builds that can run at the same time on separate connections (all take SHARE locks)."""
    t = sql.Identifier(table)
    return [
        sql.SQL("CREATE INDEX {} ON layerdata.{} USING gist (geom)").format(
            sql.Identifier(f"{table}_geom_gix"), t
        ),
        sql.SQL("CREATE INDEX {} ON layerdata.{} USING gist (geom_3857)").format(
            sql.Identifier(f"{table}_geom_3857_gix"), t
        ),
        sql.SQL("CREATE UNIQUE INDEX {} ON layerdata.{} (fid)").format(sql.Identifier(f"{table}_pkey"), t),
    ]


def build_index(conn: psycopg.Connection[Any], statement: sql.Composed) -> None:
    """Run one index build with enough memory to sort in RAM."""
    with conn.transaction():
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        conn.execute(statement)


def attach_primary_key_and_analyze(conn: psycopg.Connection[Any], table: str) -> None:
    """Turn the unique fid index into the primary key, then ANALYZE."""
    conn.execute(
        sql.SQL("ALTER TABLE layerdata.{} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {}").format(
            sql.Identifier(table), sql.Identifier(f"{table}_pkey"), sql.Identifier(f"{table}_pkey")
        )
    )
    conn.execute(sql.SQL("ANALYZE layerdata.{}").format(sql.Identifier(table)))


def table_stats(conn: psycopg.Connection[Any], table: str) -> tuple[int, list[float] | None]:
    """Feature count and bbox [minx, miny, maxx, maxy]."""
    row = conn.execute(
        sql.SQL(
            "SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT count(*) AS n, ST_Extent(geom) AS e FROM layerdata.{}) s"
        ).format(sql.Identifier(table))
    ).fetchone()
    if not row:
        return 0, None
    bbox = None if row[1] is None else [float(row[1]), float(row[2]), float(row[3]), float(row[4])]
    return int(row[0]), bbox


def update_version(conn: psycopg.Connection[Any], version_id: int, values: dict[str, Any]) -> None:
    """Set fields of a version row (keys are fixed column names, values bound)."""
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
    )
    conn.execute(
        sql.SQL("UPDATE catalogue.layer_version SET {} WHERE id = %(id)s").format(assignments),
        {**values, "id": version_id},
    )


def drop_data_table(conn: psycopg.Connection[Any], table: str) -> None:
    """Drop a version's table and its tile pyramid (``<table>_thin``) if they exist."""
    conn.execute(
        sql.SQL("DROP TABLE IF EXISTS layerdata.{}, layerdata.{}").format(
            sql.Identifier(table), sql.Identifier(f"{table}{PYRAMID_SUFFIX}")
        )
    )


def select_version(conn: psycopg.Connection[Any], layer_id: int, version: int) -> dict[str, Any] | None:
    """One version row."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM catalogue.layer_version WHERE layer_id = %s AND version = %s", (layer_id, version)
        )
        return cur.fetchone()


def set_published(conn: psycopg.Connection[Any], layer_id: int, version: int) -> int | None:
    """Mark ``version`` published and the previous one superseded; return the previous version."""
    row = conn.execute("SELECT current_version FROM catalogue.layer WHERE id = %s", (layer_id,)).fetchone()
    previous = int(row[0]) if row and row[0] is not None else None
    conn.execute(
        "UPDATE catalogue.layer_version SET status = 'superseded' WHERE layer_id = %s AND status = 'published'",
        (layer_id,),
    )
    conn.execute(
        "UPDATE catalogue.layer_version SET status = 'published', published_at = now() "
        "WHERE layer_id = %s AND version = %s",
        (layer_id, version),
    )
    conn.execute(
        "UPDATE catalogue.layer SET current_version = %s, updated_at = now() WHERE id = %s",
        (version, layer_id),
    )
    return previous


def point_view(conn: psycopg.Connection[Any], slug: str, table: str) -> None:
    """Point the stable view ``layerdata.<slug>`` at a version table (same transaction as the publish)."""
    view = sql.Identifier(slug)
    conn.execute(sql.SQL("DROP VIEW IF EXISTS layerdata.{}").format(view))
    conn.execute(
        sql.SQL("CREATE VIEW layerdata.{} AS SELECT * FROM layerdata.{}").format(view, sql.Identifier(table))
    )


def notify_published(conn: psycopg.Connection[Any], slug: str, version: int) -> None:
    """Tell listeners (tile caches, statistics, other workers) at commit."""
    conn.execute("SELECT pg_notify(%s, %s)", (PUBLISHED, f"{slug}:{version}"))


def insert_audit(conn: psycopg.Connection[Any], values: dict[str, Any]) -> None:
    """Record a write on a layer in the audit log (with the caller's role and request id: gis_platform.audit)."""
    details = values.get("details")
    audit.record(
        conn, actor=values["actor"], action=values["action"], target=values["layer_slug"],
        version_before=values.get("version_before"), version_after=values.get("version_after"),
        details=json.loads(details) if isinstance(details, str) else details,
    )  # fmt: skip


def select_stale_loading(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Versions left in ``loading`` whose loader process is gone (no session holds their lock)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT v.id, v.layer_id, v.version, v.table_name
            FROM catalogue.layer_version v
            WHERE v.status = 'loading'
              AND pg_try_advisory_xact_lock(hashtext('gis_platform.version'), v.id::int)
            """
        )
        return cur.fetchall()


def hold_version_lock(conn: psycopg.Connection[Any], version_id: int) -> None:
    """Session lock held by the loader while a version loads: its absence marks a dead loader."""
    conn.execute("SELECT pg_advisory_lock(hashtext('gis_platform.version'), %s::int)", (version_id,))


def release_version_lock(conn: psycopg.Connection[Any], version_id: int) -> None:
    """Release the loader's session lock."""
    conn.execute("SELECT pg_advisory_unlock(hashtext('gis_platform.version'), %s::int)", (version_id,))


# --- imports of files: layer lookup, serialisation, duplicate ids -------------------------------------


def select_layer(conn: psycopg.Connection[Any], slug: str) -> dict[str, Any] | None:
    """The layer row (id, slug, geometry_type, current_version), without locking it."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, slug, geometry_type, current_version FROM catalogue.layer WHERE slug = %s", (slug,)
        )
        return cur.fetchone()


def lock_layer_ingest(conn: psycopg.Connection[Any], layer_id: int) -> None:
    """Wait for, then hold, the session lock that serialises whole imports of one layer."""
    conn.execute("SELECT pg_advisory_lock(hashtext('gis_platform.ingest'), %s::int)", (layer_id,))


def unlock_layer_ingest(conn: psycopg.Connection[Any], layer_id: int) -> None:
    """Release the import lock of a layer."""
    conn.execute("SELECT pg_advisory_unlock(hashtext('gis_platform.ingest'), %s::int)", (layer_id,))


def duplicate_values(
    conn: psycopg.Connection[Any], table: str, column: str, *, limit: int = 10
) -> tuple[int, list[tuple[Any, list[int]]]]:
    """Distinct non-null values of ``column`` and the values repeated (with their first fids)."""
    t, c = sql.Identifier(table), sql.Identifier(column)
    row = conn.execute(sql.SQL("SELECT count(DISTINCT {}) FROM layerdata.{}").format(c, t)).fetchone()
    distinct = int(row[0]) if row else 0
    rows = conn.execute(
        sql.SQL(
            "SELECT {c}::text, (array_agg(fid ORDER BY fid))[1:10] FROM layerdata.{t} WHERE {c} IS NOT NULL "
            "GROUP BY {c} HAVING count(*) > 1 ORDER BY min(fid) LIMIT %s"
        ).format(c=c, t=t),
        (limit,),
    ).fetchall()
    return distinct, [(r[0], [int(f) for f in r[1]]) for r in rows]


# --- ingest jobs (psycopg, from the worker threads) ---------------------------------------------------

JOB_COLUMNS = (
    "j.id, l.slug AS layer, j.status, j.stage, j.progress, j.rows_done, j.publish, j.version, j.report, "
    "j.error, j.author, j.created_at, j.updated_at"
)


def hold_job_lock(conn: psycopg.Connection[Any], job_id: str) -> None:
    """Session lock held by the worker of a job: its absence marks a job whose process died."""
    conn.execute("SELECT pg_advisory_lock(hashtext('gis_platform.job'), hashtext(%s))", (job_id,))


def insert_job(conn: psycopg.Connection[Any], values: dict[str, Any]) -> None:
    """Create a queued job."""
    conn.execute(
        "INSERT INTO catalogue.ingest_job (id, layer_id, status, stage, publish, author, pid, report) "
        "VALUES (%(id)s, %(layer_id)s, 'queued', %(stage)s, %(publish)s, %(author)s, %(pid)s, %(report)s::jsonb)",
        values,
    )


def update_job(conn: psycopg.Connection[Any], job_id: str, values: dict[str, Any]) -> None:
    """Set fields of a job (keys are fixed column names, values bound); ``updated_at`` follows."""
    casts = {"report": "::jsonb", "error": "::jsonb"}
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}{}").format(sql.Identifier(k), sql.Placeholder(k), sql.SQL(casts.get(k, "")))
        for k in values
    )
    conn.execute(
        sql.SQL("UPDATE catalogue.ingest_job SET {}, updated_at = now() WHERE id = %(job_id)s").format(
            assignments
        ),
        {**values, "job_id": job_id},
    )


def fail_stale_jobs(conn: psycopg.Connection[Any], error: str) -> list[str]:
    """Mark queued/running jobs whose worker is gone (nobody holds their lock) failed; return their ids."""
    rows = conn.execute(
        """
        UPDATE catalogue.ingest_job SET status = 'failed', stage = 'abandoned', error = %s::jsonb, updated_at = now()
        WHERE id IN (
            SELECT id FROM catalogue.ingest_job
            WHERE status IN ('queued', 'running')
              AND pg_try_advisory_xact_lock(hashtext('gis_platform.job'), hashtext(id::text))
        )
        RETURNING id::text
        """,
        (error,),
    ).fetchall()
    return [str(r[0]) for r in rows]


# --- the API's reads and layer creation (asyncpg) -----------------------------------------------------


async def fetch_job(conn: Any, job_id: str) -> dict[str, Any] | None:
    """One job with its layer's slug and the version's summary (asyncpg)."""
    row = await conn.fetchrow(
        "SELECT " + JOB_COLUMNS + ", v.status AS version_status, v.feature_count, v.bbox, v.geometry_type "
        "FROM catalogue.ingest_job j JOIN catalogue.layer l ON l.id = j.layer_id "
        "LEFT JOIN catalogue.layer_version v ON v.layer_id = j.layer_id AND v.version = j.version "
        "WHERE j.id = $1::uuid",
        job_id,
    )
    return dict(row) if row else None


async def fetch_version(conn: Any, slug: str, version: int) -> dict[str, Any] | None:
    """A version's table, status, size and attribute columns by layer slug and number (asyncpg)."""
    row = await conn.fetchrow(
        "SELECT v.table_name, v.status, v.feature_count, v.bbox, v.geometry_type, v.columns::text AS columns "
        "FROM catalogue.layer_version v JOIN catalogue.layer l ON l.id = v.layer_id "
        "WHERE l.slug = $1 AND v.version = $2",
        slug,
        version,
    )
    return dict(row) if row else None


async def select_preview(
    conn: Any, table: str, columns: Sequence[str], limit: int, matched: int | None
) -> str:
    """The first ``limit`` features of a version's table as a GeoJSON FeatureCollection (text, asyncpg)."""
    query = sql.SQL(
        """
        SELECT json_build_object('type', 'FeatureCollection', 'numberMatched', $2::bigint,
            'numberReturned', count(t.fid), 'features', coalesce(json_agg(json_build_object(
            'type', 'Feature', 'id', t.fid, 'geometry', ST_AsGeoJSON(t.geom, 6)::json,
            'properties', (SELECT to_json(p) FROM (SELECT {props}) p)) ORDER BY t.fid), '[]'::json))::text
        FROM (SELECT * FROM layerdata.{table} ORDER BY fid LIMIT $1) t
        """
    ).format(
        props=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in columns),
        table=sql.Identifier(table),
    )
    text: str = await conn.fetchval(query.as_string(None), limit, matched)
    return text


async def fetch_category_titles(conn: Any, category: str) -> tuple[str, str] | None:
    """The titles of a category, or None when it does not exist (asyncpg)."""
    row = await conn.fetchrow("SELECT title_vi, title_en FROM catalogue.category WHERE id = $1", category)
    return (str(row[0]), str(row[1])) if row else None


async def insert_layer(conn: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Create an API-managed layer; return its row (asyncpg; raises UniqueViolationError if the slug exists)."""
    row = await conn.fetchrow(
        """
        INSERT INTO catalogue.layer (slug, title_vi, title_en, description_vi, description_en, category, agency,
            licence, attribution, keywords, update_frequency, geometry_type, visibility, synthetic, managed_by,
            search_text)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'api', $15)
        RETURNING id, slug, title_vi, title_en, description_vi, description_en, category, agency, licence,
            attribution, keywords, update_frequency, geometry_type, visibility, synthetic, current_version,
            managed_by, created_at, updated_at
        """,
        values["slug"], values["title_vi"], values["title_en"], values["description_vi"], values["description_en"],
        values["category"], values["agency"], values["licence"], values["attribution"], values["keywords"],
        values["update_frequency"], values["geometry_type"], values["visibility"], values["synthetic"],
        values["search_text"],
    )  # fmt: skip
    return dict(row)
