"""SQL of the features API: the only place it lives (besides the CQL2 compiler's conditions).

Every item response is ONE statement: the inner query selects, filters, sorts and pages the rows
of the version's table (aliased ``t``, plus any joins), the outer one turns each row into the text
the client gets (a GeoJSON Feature, a CSV line, or properties + SVG for HTML). Identifiers come
from the catalogue (``sql.Identifier``); values are bind parameters (:class:`Binds`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import asyncpg
import orjson
from psycopg import sql

from gis_platform.features.binds import Binds, PgType
from gis_platform.features.cql import compile_filter
from gis_platform.features.crs import EPSG_3857
from gis_platform.features.models import Collection, Field, ItemsQuery

logger = logging.getLogger(__name__)

Output = Literal["geojson", "csv", "html", "wkb"]

#: The pg type a value of each field type is bound as.
BIND_TYPES: dict[str, PgType] = {
    "text": "text", "integer": "bigint", "double": "double precision", "boolean": "boolean",
    "date": "date", "datetime": "timestamptz",
}  # fmt: skip
ARRAY_BIND_TYPES: dict[str, PgType] = {
    "text": "text[]", "integer": "bigint[]", "double": "double precision[]", "boolean": "boolean[]",
    "date": "date[]", "datetime": "timestamptz[]",
}  # fmt: skip

# Page statements are short: parallel workers cost more to start than they save, and a generic plan
# (PostgreSQL's choice after five runs of a prepared statement) cannot see how selective a bbox is.
# The collection lookup sets both for the session at no extra round trip; the pool's RESET ALL on
# release undoes them. BEGIN opens the read-only transaction a cursor (whole-layer reads) needs.
BEGIN = "BEGIN READ ONLY"

_LAYER_COLUMNS = """
SELECT l.id, l.slug, l.title_en, l.title_vi, l.description_en, l.description_vi, l.keywords, l.licence,
       l.attribution, l.geometry_type, l.current_version, v.table_name, v.feature_count, v.bbox, v.columns,
       v.geometry_type AS version_geometry_type, v.published_at
FROM catalogue.layer l
JOIN catalogue.layer_version v ON v.layer_id = l.id AND v.version = l.current_version
WHERE (l.visibility = 'public' OR $1::boolean) AND v.status = 'published'
"""  # $1: internal layers visible too
SELECT_COLLECTIONS = _LAYER_COLUMNS + " ORDER BY l.category, l.slug"
SELECT_COLLECTION = (
    _LAYER_COLUMNS.replace(
        "SELECT ",
        "SELECT set_config('plan_cache_mode', 'force_custom_plan', false) AS plan_cache_mode, "
        "set_config('max_parallel_workers_per_gather', '0', false) AS parallel_workers, ",
        1,
    )
    + " AND l.slug = $2"
)


@dataclass(frozen=True)
class Statement:
    """SQL text for asyncpg and its bind values."""

    text: str
    args: tuple[Any, ...]


def _int(value: int) -> sql.SQL:
    """A constant integer of ours (an SRID, a precision), rendered as ``sql.Literal`` would, without its adapters."""
    return sql.SQL(str(int(value)))


def _render(query: sql.Composable, binds: Binds) -> Statement:
    return Statement(query.as_string(None), tuple(binds.values))


def column_fields(columns: Any) -> tuple[Field, ...]:
    """The fields of a version's table from ``layer_version.columns`` (JSON text or list)."""
    items = orjson.loads(columns) if isinstance(columns, str | bytes) else (columns or [])
    return tuple(
        Field(
            c["name"],
            c.get("type", "text"),
            c.get("original") or c["name"],
            sql.SQL("t.{}").format(sql.Identifier(c["name"])),
        )
        for c in items
    )


async def select_collections(conn: asyncpg.Connection, internal: bool = False) -> list[asyncpg.Record]:
    """Every published layer (public; internal too when ``internal``) with its current version."""
    rows: list[asyncpg.Record] = await conn.fetch(SELECT_COLLECTIONS, internal)
    return rows


async def select_collection(
    conn: asyncpg.Connection, slug: str, internal: bool = False
) -> asyncpg.Record | None:
    """One published layer (public, or any when ``internal``) with its current version, or ``None``."""
    row: asyncpg.Record | None = await conn.fetchrow(SELECT_COLLECTION, internal, slug)
    return row


async def select_time_range(
    conn: asyncpg.Connection, collection: Collection, field: Field
) -> tuple[Any, Any]:
    """The earliest and latest value of a date/datetime property."""
    query = sql.SQL("SELECT min({e}), max({e}) FROM layerdata.{tbl} t").format(
        e=field.expr, tbl=sql.Identifier(collection.table)
    )
    row = await conn.fetchrow(query.as_string(None))
    return (row[0], row[1]) if row else (None, None)


def _from(collection: Collection, binds: Binds) -> sql.Composable:
    parts: list[sql.Composable] = [sql.SQL("layerdata.{} t").format(sql.Identifier(collection.table))]
    parts.extend(join.clause(binds) for join in collection.joins)
    return sql.SQL(" ").join(parts)


def _envelope(query: ItemsQuery, binds: Binds) -> sql.Composable:
    assert query.bbox is not None  # noqa: S101
    box = query.bbox
    env = sql.SQL("ST_MakeEnvelope({}, {}, {}, {}, {})").format(
        binds.add(box.minx, "double precision"), binds.add(box.miny, "double precision"),
        binds.add(box.maxx, "double precision"), binds.add(box.maxy, "double precision"),
        _int(box.crs.srid),
    )  # fmt: skip
    if box.crs.srid != 4326:
        env = sql.SQL("ST_Transform({}, 4326)").format(env)
    return env


def _where(collection: Collection, query: ItemsQuery, binds: Binds) -> sql.Composable:
    conditions: list[sql.Composable] = []
    if query.fid is not None:
        conditions.append(sql.SQL("t.fid = {}").format(binds.add(query.fid, "bigint")))
    if query.bbox is not None:
        conditions.append(sql.SQL("ST_Intersects(t.geom, {})").format(_envelope(query, binds)))
    if query.datetime is not None:
        conditions.extend(_time_conditions(collection, query, binds))
    for field, values in query.equals:
        if len(values) == 1:
            conditions.append(
                sql.SQL("{} = {}").format(field.expr, binds.add(values[0], BIND_TYPES[field.type]))
            )
        else:
            bound = binds.add(list(values), ARRAY_BIND_TYPES[field.type])
            conditions.append(sql.SQL("{} = ANY({})").format(field.expr, bound))
    if query.filter is not None:
        conditions.append(compile_filter(collection, query.filter, binds, query.filter_crs))
    if not conditions:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)


def _time_conditions(collection: Collection, query: ItemsQuery, binds: Binds) -> list[sql.Composable]:
    field = collection.temporal_field
    assert field is not None and query.datetime is not None  # noqa: S101
    pg: PgType = BIND_TYPES[field.type]
    out: list[sql.Composable] = []
    start, end = query.datetime.start, query.datetime.end
    if start is not None:
        out.append(sql.SQL("{} >= {}").format(field.expr, binds.add(start, pg)))
    if end is not None:
        operator = sql.SQL("<" if query.datetime.end_exclusive else "<=")
        out.append(sql.SQL("{} {} {}").format(field.expr, operator, binds.add(end, pg)))
    return out


def _order(query: ItemsQuery) -> sql.Composable:
    keys: list[sql.Composable] = [
        sql.SQL("{} {}").format(
            k.field.expr, sql.SQL("DESC NULLS LAST" if k.descending else "ASC NULLS LAST")
        )
        for k in query.sortby
    ]
    keys.append(sql.SQL("t.fid"))
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(keys)


def _selected(collection: Collection, query: ItemsQuery) -> tuple[Field, ...]:
    return collection.fields if query.properties is None else query.properties


def _source(collection: Collection, query: ItemsQuery, binds: Binds) -> sql.Composable:
    """``table t [joins] [WHERE …]``: the rows a request matches (its binds are the statement's first)."""
    return sql.SQL("{}{}").format(_from(collection, binds), _where(collection, query, binds))


def _inner(
    collection: Collection, query: ItemsQuery, binds: Binds, output: Output, page: bool,
    source: sql.Composable | None = None,
) -> sql.Composable:  # fmt: skip
    geom_column = "geom_3857" if output != "wkb" and query.crs == EPSG_3857 else "geom"
    select: list[sql.Composable] = [
        sql.SQL("t.fid"),
        sql.SQL("t.{} AS geom").format(sql.Identifier(geom_column)),
    ]
    if output == "html":
        select.append(sql.SQL("t.geom_3857 AS svg_geom"))
    select.extend(
        sql.SQL("{} AS {}").format(f.expr, sql.Identifier(f.name)) for f in _selected(collection, query)
    )
    if source is None:
        source = _source(collection, query, binds)
    inner = sql.SQL("SELECT {} FROM {}{}").format(sql.SQL(", ").join(select), source, _order(query))
    if page:
        # one row more than asked: tells whether a next page exists without counting
        inner += sql.SQL(" LIMIT {} OFFSET {}").format(
            binds.add(query.limit + 1, "bigint"), binds.add(query.offset, "bigint")
        )
    return inner


def _output_geometry(query: ItemsQuery) -> sql.Composable:
    crs = query.crs
    if crs.lat_first:
        return sql.SQL("ST_FlipCoordinates(q.geom)")
    if crs.srid in (4326, 3857):
        return sql.SQL("q.geom")
    return sql.SQL("ST_Transform(q.geom, {})").format(_int(crs.srid))


def _properties(fields: tuple[Field, ...]) -> tuple[sql.Composable, sql.Composable]:
    """The properties object as JSON text, and the lateral join that names it."""
    if not fields:
        return sql.SQL("'{}'"), sql.SQL("")
    lateral = sql.SQL(" CROSS JOIN LATERAL (SELECT {}) p").format(
        sql.SQL(", ").join(sql.SQL("q.{}").format(sql.Identifier(f.name)) for f in fields)
    )
    return sql.SQL("row_to_json(p)::text"), lateral


def _csv_value(expr: sql.Composable, field_type: str) -> sql.Composable:
    if field_type in ("integer", "double", "boolean"):
        return sql.SQL("COALESCE({}::text, '')").format(expr)
    return sql.SQL("""COALESCE('"' || replace({}::text, '"', '""') || '"', '')""").format(expr)


@dataclass(frozen=True)
class PageStatements:
    """A page's statement and the matched rows' source, filter compiled once (for the estimate and count)."""

    page: Statement
    source: sql.Composable
    source_args: tuple[Any, ...]

    def estimate(self) -> Statement:
        """:func:`estimate_statement` of the same request (rendered once: pages may share these statements)."""
        return self._estimate

    @cached_property
    def _estimate(self) -> Statement:
        return Statement(_estimate(self.source).as_string(None), self.source_args)

    def count(self, cap: int) -> Statement:
        """:func:`count_statement` of the same request."""
        binds = Binds()
        binds.values = list(self.source_args)
        return _render(_count(self.source, binds, cap), binds)


def page_statements(
    collection: Collection, query: ItemsQuery, output: Output, *, page: bool = True
) -> PageStatements:
    """:func:`items_statement` and the source of its rows (the same ``$n`` come first in both)."""
    binds = Binds()
    source = _source(collection, query, binds)
    args = tuple(binds.values)
    return PageStatements(_items(collection, query, output, page, binds, source), source, args)


def items_statement(
    collection: Collection, query: ItemsQuery, output: Output, *, page: bool = True
) -> Statement:
    """The one statement of an items (or item, or download) response, one text row per feature."""
    binds = Binds()
    return _items(collection, query, output, page, binds, _source(collection, query, binds))


def _items(
    collection: Collection,
    query: ItemsQuery,
    output: Output,
    page: bool,
    binds: Binds,
    source: sql.Composable,
) -> Statement:
    inner = _inner(collection, query, binds, output, page, source)
    fields = _selected(collection, query)
    geometry = _output_geometry(query)
    digits = _int(query.crs.digits)
    if output == "geojson":
        props, lateral = _properties(fields)
        select = sql.SQL(
            """'{{"type":"Feature","id":' || q.fid || ',"geometry":' || """
            """COALESCE(ST_AsGeoJSON({g}, {d}, 0), 'null') || ',"properties":' || {p} || '}}'"""
        ).format(g=geometry, d=digits, p=props)
    elif output == "csv":
        lateral = sql.SQL("")
        values: list[sql.Composable] = [sql.SQL("q.fid::text")]
        values.extend(_csv_value(sql.SQL("q.{}").format(sql.Identifier(f.name)), f.type) for f in fields)
        values.append(_csv_value(sql.SQL("ST_AsText({}, {})").format(geometry, digits), "text"))
        select = sql.SQL("concat_ws(',', {})").format(sql.SQL(", ").join(values))
    elif output == "html":
        props, lateral = _properties(fields)
        select = sql.SQL(
            "q.fid, {p}, ST_AsSVG(q.svg_geom, 0, 1), ST_XMin(q.svg_geom), ST_YMin(q.svg_geom), "
            "ST_XMax(q.svg_geom), ST_YMax(q.svg_geom)"
        ).format(p=props)
    else:
        lateral = sql.SQL("")
        columns = [sql.SQL("q.{}").format(sql.Identifier(f.name)) for f in fields]
        select = sql.SQL(", ").join([sql.SQL("q.fid"), *columns, sql.SQL("ST_AsBinary(q.geom)")])
    statement = sql.SQL("SELECT {} FROM ({}) q{}").format(select, inner, lateral)
    return _render(statement, binds)


def count_statement(collection: Collection, query: ItemsQuery, cap: int) -> Statement:
    """Count the matching rows, stopping at ``cap``."""
    binds = Binds()
    return _render(_count(_source(collection, query, binds), binds, cap), binds)


def _count(source: sql.Composable, binds: Binds, cap: int) -> sql.Composable:
    inner = sql.SQL("SELECT 1 FROM {}").format(source)
    return sql.SQL("SELECT count(*) FROM ({} LIMIT {}) c").format(inner, binds.add(cap, "bigint"))


def estimate_statement(collection: Collection, query: ItemsQuery) -> Statement:
    """The planner's estimate of the matching rows (``EXPLAIN``, no execution)."""
    binds = Binds()
    return _render(_estimate(_source(collection, query, binds)), binds)


def _estimate(source: sql.Composable) -> sql.Composable:
    return sql.SQL("EXPLAIN (FORMAT JSON) ") + sql.SQL("SELECT 1 FROM {}").format(source)


async def begin(conn: asyncpg.Connection) -> None:
    """Open the read-only transaction a cursor needs, tuned for short page statements."""
    await conn.execute(BEGIN)


async def finish(conn: asyncpg.Connection) -> None:
    """End the transaction opened by :func:`begin`, if the connection is still usable and in it.

    After a cancelled fetch (the client went away) the connection may be unusable; the pool resets
    or discards it on release, so errors here are only logged.
    """
    try:
        if not conn.is_closed() and conn.is_in_transaction():
            await conn.execute("ROLLBACK")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        logger.debug("could not end the read transaction: %s", type(exc).__name__)


async def open_cursor(conn: asyncpg.Connection, statement: Statement) -> Any:
    """A server-side cursor over the statement (inside :func:`begin`)."""
    return await conn.cursor(statement.text, *statement.args)


async def fetch_rows(conn: asyncpg.Connection, statement: Statement) -> list[asyncpg.Record]:
    """All rows of a statement known to return few (a page)."""
    rows: list[asyncpg.Record] = await conn.fetch(statement.text, *statement.args)
    return rows


async def fetch_count(conn: asyncpg.Connection, statement: Statement) -> int:
    """Run a count statement."""
    return int(await conn.fetchval(statement.text, *statement.args))


async def fetch_estimate(conn: asyncpg.Connection, statement: Statement) -> int:
    """Run an ``EXPLAIN`` statement and return its estimated rows."""
    plan = orjson.loads(await conn.fetchval(statement.text, *statement.args))
    return int(plan[0]["Plan"]["Plan Rows"])
