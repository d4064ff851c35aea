"""The tiles' only SQL: the catalogue read and the one-statement MVT query of a tile.

A tile statement is composed once per (layer versions, zoom) with ``psycopg.sql`` (identifiers from
the catalogue only), rendered to text and run by asyncpg with ``$n`` bind parameters: ``$1, $2, $3``
are z, x, y and the rest are per-layer constants of that zoom (layer name, buffer, tolerances, grid
cell size, feature cap). asyncpg prepares each distinct text once per connection and reuses it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from gis_platform.tiles.models import LINE_TYPES, POINT_TYPES, JoinedAttributes, LayerVersion, Mode, ZoomRule
from gis_platform.tiles.rules import EXTENT, ORIGIN_M, TILE_PX, size_expression_kind, tile_size_m

DATA_SCHEMA = "layerdata"
#: layerdata.<table>_thin: the version's point pyramid (see gis_platform.tiles.pyramid)
PYRAMID_SUFFIX = "_thin"

SELECT_CATALOGUE = """
SELECT l.id, l.slug, l.title_en, l.title_vi, l.description_en, l.attribution, l.licence, l.geometry_type,
       l.visibility, l.current_version, l.style::text AS style, l.tile_settings::text AS tile_settings,
       v.version, v.table_name, v.columns::text AS columns, v.bbox, v.geometry_type AS version_geometry_type,
       coalesce(v.feature_count, 0) AS feature_count, v.id AS version_id,
       (extract(epoch FROM v.created_at) * 1000000)::bigint AS created_us,
       CASE WHEN v.table_name IS NULL THEN NULL  -- a layer without a servable version (CASE keeps the order)
            WHEN to_regclass(format('%I.%I', 'layerdata', v.table_name || '_thin')) IS NOT NULL
            THEN v.validation_report -> 'tile_pyramid' END::text AS pyramid
FROM catalogue.layer l
LEFT JOIN catalogue.layer_version v
       ON v.layer_id = l.id AND v.status IN ('published', 'superseded')
      AND to_regclass(format('%I.%I', 'layerdata', v.table_name)) IS NOT NULL
ORDER BY l.slug, v.version
"""

SELECT_CURRENT_VERSION = "SELECT current_version FROM catalogue.layer WHERE slug = $1"


async def select_catalogue(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every layer with its servable versions (one row per version; a layer without any has one row)."""
    rows: list[asyncpg.Record] = await conn.fetch(SELECT_CATALOGUE)
    return rows


async def select_current_version(conn: asyncpg.Connection, slug: str) -> int | None:
    """The layer's published version number, straight from the catalogue."""
    value = await conn.fetchval(SELECT_CURRENT_VERSION, slug)
    return int(value) if value is not None else None


def tile_args(query: TileQuery, z: int, x: int, y: int) -> tuple[Any, ...]:
    """The bind values of a tile statement: ``z, x, y`` then the query's own."""
    return (z, x, y, *query.args)


@dataclass(frozen=True, slots=True)
class LayerPart:
    """One layer of a tile statement at one zoom."""

    name: str
    version: LayerVersion
    rule: ZoomRule
    buffer: int
    joins: tuple[JoinedAttributes, ...] = ()


@dataclass(frozen=True, slots=True)
class TileQuery:
    """A rendered tile statement and its bind values after ``z, x, y``."""

    sql: str
    args: tuple[Any, ...]


class _Binder:
    """Hands out ``$n`` placeholders (``$1..$3`` are z, x, y) and collects their values."""

    def __init__(self) -> None:
        self.args: list[Any] = []

    def __call__(self, value: Any, pg_type: str) -> sql.Composable:
        self.args.append(value)
        return sql.SQL("${}::{}").format(sql.SQL(str(len(self.args) + 3)), sql.SQL(pg_type))


_ENV = sql.SQL("ST_TileEnvelope($1, $2, $3)")


def build_tile_query(parts: Sequence[LayerPart], z: int, *, grid_cells: int, max_features: int) -> TileQuery:
    """Compose the statement of a tile of ``parts`` at zoom ``z``: the layers' MVTs concatenated."""
    bind = _Binder()
    exprs = [_part(part, z, bind, grid_cells=grid_cells, max_features=max_features) for part in parts]
    body = sql.SQL(" || ").join(exprs)
    statement = sql.SQL("SELECT {}").format(body)
    return TileQuery(sql=statement.as_string(None), args=tuple(bind.args))


def _part(part: LayerPart, z: int, bind: _Binder, *, grid_cells: int, max_features: int) -> sql.Composable:
    v = part.version
    table = sql.Identifier(DATA_SCHEMA, v.table_name)
    ctx = _Ctx(
        part=part,
        table=table,
        name=bind(part.name, "text"),
        buffer=bind(part.buffer, "int4"),
        env_m=sql.SQL("ST_TileEnvelope($1, $2, $3, margin => {})").format(
            bind(part.buffer / EXTENT, "float8")
        ),
        point=v.geometry_type in POINT_TYPES,
    )
    ctx.sources = [_join_source(i, join, bind) for i, join in enumerate(part.joins)]  # bound once
    tolerance = part.rule.simplify_px * tile_size_m(z) / TILE_PX
    # below one MVT grid unit ST_AsMVTGeom's own snapping already does the work
    ctx.tolerance = bind(tolerance, "float8") if tolerance > tile_size_m(z) / EXTENT else None
    cell = tile_size_m(z) / grid_cells
    pyramid = v.pyramid_at(z, grid_cells) if part.rule.mode is not Mode.plain else None
    if pyramid is not None:  # the cells were counted at publish: read this zoom's cells of the tile
        cells = _tile_cells(bind, z, grid_cells, part.buffer)
        return _coalesce(_from_pyramid(ctx, sql.Identifier(DATA_SCHEMA, pyramid), z, cells))
    if part.rule.mode is Mode.cluster:
        return _coalesce(_cluster(ctx, bind(cell, "float8")))
    if part.rule.mode is Mode.thin:
        return _coalesce(_thin(ctx, bind(cell, "float8")))
    # one pass for the usual tile: read at most cap + 1 features once; only a fuller tile is thinned
    cap = bind(max_features + 1, "int4")
    guarded = _thin(ctx, bind(cell, "float8")) if ctx.point else _largest(ctx, bind(max_features, "int4"))
    first = sql.SQL(
        "SELECT t.fid, t.geom_3857{cols} FROM {table} AS t{joins} WHERE t.geom_3857 && {env_m} LIMIT {cap}"
    ).format(cols=ctx.columns(), table=table, joins=ctx.joins(), env_m=ctx.env_m, cap=cap)
    plain = ctx.mvt(sql.SQL("SELECT t.fid, {geom} AS geom{cols} FROM r AS t").format(
        geom=ctx.geom(), cols=ctx.columns(joined=False)
    ))  # fmt: skip
    return sql.SQL(
        "(WITH r AS MATERIALIZED ({first}) SELECT CASE WHEN (SELECT count(*) FROM r) >= {cap} "
        "THEN {guarded} ELSE {plain} END)"
    ).format(first=first, cap=cap, guarded=_coalesce(guarded), plain=_coalesce(plain))


class _Ctx:
    def __init__(
        self,
        *,
        part: LayerPart,
        table: sql.Composable,
        name: sql.Composable,
        buffer: sql.Composable,
        env_m: sql.Composable,
        point: bool,
    ) -> None:
        self.part = part
        self.table = table
        self.name = name
        self.buffer = buffer
        self.env_m = env_m
        self.point = point
        self.tolerance: sql.Composable | None = None
        self.sources: list[sql.Composable] = []

    def geom(self) -> sql.Composable:
        """The feature geometry in tile coordinates (clipped, simplified when asked)."""
        source: sql.Composable = sql.SQL("t.geom_3857")
        if self.tolerance is not None and not self.point:
            # lines: plain Douglas-Peucker (no GEOS round trip); polygons keep their rings valid
            simplify = (
                "ST_Simplify"
                if self.part.version.geometry_type in LINE_TYPES
                else "ST_SimplifyPreserveTopology"
            )
            source = sql.SQL("{fn}(t.geom_3857, {tol})").format(fn=sql.SQL(simplify), tol=self.tolerance)
        return sql.SQL("ST_AsMVTGeom({src}, {env}, {extent}, {buffer}, true)").format(
            src=source, env=_ENV, extent=sql.Literal(EXTENT), buffer=self.buffer
        )

    def columns(self, *, joined: bool = True) -> sql.Composable:
        """The attributes of the zoom, then joined attributes (from ``t`` when already joined in)."""
        cols: list[sql.Composable] = [
            sql.SQL("t.{}").format(sql.Identifier(c)) for c in self.part.rule.attributes
        ]
        for i, join in enumerate(self.part.joins):
            alias = sql.Identifier(f"j{i}" if joined else "t")
            cols.extend(
                sql.SQL("{}.{} AS {}").format(alias, sql.Identifier(c.name), sql.Identifier(c.name))
                for c in join.columns
            )
        return sql.SQL("").join(sql.SQL(", {}").format(c) for c in cols)

    def joins(self) -> sql.Composable:
        """``LEFT JOIN`` of each joined relation."""
        return sql.SQL("").join(
            sql.SQL(" LEFT JOIN {source} ON {alias}.{fk} = t.{key}").format(
                source=source,
                alias=sql.Identifier(f"j{i}"),
                fk=sql.Identifier(j.foreign_key),
                key=sql.Identifier(j.key),
            )
            for i, (j, source) in enumerate(zip(self.part.joins, self.sources, strict=True))
        )

    def mvt(self, rows: sql.Composable, *, with_id: bool = True) -> sql.Composable:
        """``ST_AsMVT`` over a row source that has a ``geom`` column.

        ``ST_AsMVT`` skips rows whose geometry clipped away (NULL) and gives ``b""`` when none is left,
        so they are not filtered: a ``WHERE q.geom IS NOT NULL`` is pushed into the rows as a second
        ``ST_AsMVTGeom`` (and simplification) of every feature.
        """
        fid = sql.SQL(", 'geom', 'fid'") if with_id else sql.SQL(", 'geom'")
        return sql.SQL("(SELECT ST_AsMVT(q, {name}, {extent}{fid}) FROM ({rows}) AS q)").format(
            name=self.name, extent=sql.Literal(EXTENT), fid=fid, rows=rows
        )

    def xy(self) -> tuple[sql.Composable, sql.Composable]:
        """Coordinates of a point feature (the first point of a MultiPoint)."""
        g = sql.SQL("t.geom_3857")
        if self.part.version.geometry_type != "Point":
            g = sql.SQL("ST_GeometryN(t.geom_3857, 1)")
        return sql.SQL("ST_X({})").format(g), sql.SQL("ST_Y({})").format(g)


#: Array types of joined columns passed as bind parameters (``JoinedAttributes.arrays``).
_ARRAY_TYPES = {"integer": "int8[]", "double": "float8[]", "boolean": "bool[]"}


def _join_source(index: int, join: JoinedAttributes, bind: _Binder) -> sql.Composable:
    """``relation AS j<i>``, or ``unnest`` of bound arrays ``AS j<i>(key, column…)``."""
    alias = sql.Identifier(f"j{index}")
    if not join.arrays:
        return sql.SQL("{} AS {}").format(sql.Identifier(join.schema, join.relation), alias)
    if len(join.arrays) != len(join.columns) + 1:
        raise ValueError(f"join {join.relation!r}: one key array and one array per column expected")
    arrays = [bind(list(join.arrays[0]), "text[]")]
    arrays.extend(
        bind(list(values), _ARRAY_TYPES.get(c.type, "text[]"))
        for c, values in zip(join.columns, join.arrays[1:], strict=True)
    )
    names = [sql.Identifier(join.foreign_key), *(sql.Identifier(c.name) for c in join.columns)]
    return sql.SQL("unnest({}) AS {}({})").format(
        sql.SQL(", ").join(arrays), alias, sql.SQL(", ").join(names)
    )


def _coalesce(expr: sql.Composable) -> sql.Composable:
    return sql.SQL("coalesce({}, ''::bytea)").format(expr)


def _plain(ctx: _Ctx) -> sql.Composable:
    rows = sql.SQL(
        "SELECT t.fid, {geom} AS geom{cols} FROM {table} AS t{joins} WHERE t.geom_3857 && {env_m}"
    ).format(geom=ctx.geom(), cols=ctx.columns(), table=ctx.table, joins=ctx.joins(), env_m=ctx.env_m)
    return ctx.mvt(rows)


def _cells(ctx: _Ctx, cell: sql.Composable, select: sql.Composable) -> sql.Composable:
    """Points of the tile grouped by a grid aligned with the tile grid (so neighbours agree)."""
    x, y = ctx.xy()
    return sql.SQL(
        "SELECT {select} FROM (SELECT t.fid, {x} AS px, {y} AS py FROM {table} AS t WHERE t.geom_3857 && {env_m}) "
        "AS p GROUP BY floor((p.px - {origin}) / {cell}), floor((p.py - {origin}) / {cell})"
    ).format(
        select=select, x=x, y=y, table=ctx.table, env_m=ctx.env_m, origin=sql.Literal(ORIGIN_M), cell=cell
    )


def _thin(ctx: _Ctx, cell: sql.Composable) -> sql.Composable:
    """One feature per grid cell (the lowest fid) with its attributes and the cell's ``count``."""
    cells = _cells(ctx, cell, sql.SQL("min(p.fid) AS fid, count(*)::int4 AS count"))
    # a LATERAL with LIMIT is never flattened: one key lookup per cell, whatever the planner thinks
    # of the cell count (as a plain join it may merge-join the whole key index instead)
    rows = sql.SQL(
        "SELECT t.fid, c.count, {geom} AS geom{cols} FROM ({cells}) AS c "
        "CROSS JOIN LATERAL (SELECT * FROM {table} AS t WHERE t.fid = c.fid LIMIT 1) AS t{joins}"
    ).format(geom=ctx.geom(), cols=ctx.columns(), cells=cells, table=ctx.table, joins=ctx.joins())
    return ctx.mvt(rows)


def _tile_cells(bind: _Binder, z: int, grid_cells: int, buffer: int) -> sql.Composable:
    """The grid cells of tile ``$2, $3`` and of its buffer (whole cells), by cell number.

    Cell numbers count from the west and south edges of the world; tile rows from the north.
    """
    g = bind(grid_cells, "int4")
    ring = bind(math.ceil(buffer * grid_cells / EXTENT), "int4")
    south = sql.SQL("({n} - 1 - $3) * {g}").format(n=bind(1 << z, "int4"), g=g)
    return sql.SQL(
        "t.cx BETWEEN $2 * {g} - {b} AND ($2 + 1) * {g} - 1 + {b} AND t.cy BETWEEN {s} - {b} AND {s} + {g} - 1 + {b}"
    ).format(g=g, b=ring, s=south)


def _from_pyramid(ctx: _Ctx, pyramid: sql.Composable, z: int, cells: sql.Composable) -> sql.Composable:
    """Thinned or clustered points from the version's pyramid: the same cells, counted at publish.

    The GiST index finds the tile's cells (``&&`` compares float4 boxes, so it may also find cells a
    metre beyond the buffer); the cell numbers keep exactly the tile's and its buffer's whole cells.
    ``z`` is a literal (the statement is composed per zoom) so the zoom's partial index applies to
    every plan, generic ones included.
    """
    cluster = ctx.part.rule.mode is Mode.cluster
    where = sql.SQL("FROM {pyr} AS t{joins} WHERE t.z = {z} AND t.geom_3857 && {env_m} AND {cells}").format(
        pyr=pyramid,
        joins=sql.SQL("") if cluster else ctx.joins(),
        z=sql.Literal(z),
        env_m=ctx.env_m,
        cells=cells,
    )
    if cluster:
        rows = sql.SQL(
            "SELECT t.count, ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(t.mx, t.my), 3857), {env}, {extent}, "
            "{buffer}, true) AS geom {where}"
        ).format(env=_ENV, extent=sql.Literal(EXTENT), buffer=ctx.buffer, where=where)
        return ctx.mvt(rows, with_id=False)
    rows = sql.SQL("SELECT t.fid, t.count, {geom} AS geom{cols} {where}").format(
        geom=ctx.geom(), cols=ctx.columns(), where=where
    )
    return ctx.mvt(rows)


def _cluster(ctx: _Ctx, cell: sql.Composable) -> sql.Composable:
    """One point per grid cell at the mean of its points, with attribute ``count``."""
    select = sql.SQL(
        "count(*)::int4 AS count, "
        "ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(avg(p.px), avg(p.py)), 3857), {env}, {extent}, {buffer}, true) AS geom"
    ).format(env=_ENV, extent=sql.Literal(EXTENT), buffer=ctx.buffer)
    return ctx.mvt(_cells(ctx, cell, select), with_id=False)


def _largest(ctx: _Ctx, limit: sql.Composable) -> sql.Composable:
    """The ``limit`` largest lines or polygons of the tile (the small ones would be sub-pixel anyway)."""
    length = size_expression_kind(ctx.part.version.geometry_type) == "length"
    size = sql.SQL("ST_Length(t.geom_3857)") if length else sql.SQL("ST_Area(t.geom_3857)")
    rows = sql.SQL(
        "SELECT t.fid, {geom} AS geom{cols} FROM {table} AS t{joins} WHERE t.geom_3857 && {env_m} "
        "ORDER BY {size} DESC LIMIT {limit}"
    ).format(
        geom=ctx.geom(),
        cols=ctx.columns(),
        table=ctx.table,
        joins=ctx.joins(),
        env_m=ctx.env_m,
        size=size,
        limit=limit,
    )
    return ctx.mvt(rows)


# --- the point pyramid (built at publish by the ingest's psycopg connection) ---------------------------

SELECT_PYRAMID_SOURCE = """
SELECT l.tile_settings, v.id AS version_id, v.table_name, v.columns, v.status,
       coalesce(v.geometry_type, l.geometry_type) AS geometry_type,
       v.validation_report -> 'tile_pyramid' AS pyramid,
       to_regclass(format('%%I.%%I', 'layerdata', v.table_name || '_thin')) IS NOT NULL AS pyramid_exists
FROM catalogue.layer l JOIN catalogue.layer_version v ON v.layer_id = l.id
WHERE l.slug = %s AND v.version = %s
FOR UPDATE OF v
"""


def select_pyramid_source(conn: psycopg.Connection[Any], slug: str, version: int) -> dict[str, Any] | None:
    """Lock a version row; its table, columns, type, pyramid description and the layer's tile settings."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(SELECT_PYRAMID_SOURCE, (slug, version))
        return cur.fetchone()


def drop_pyramid(conn: psycopg.Connection[Any], version_id: int, table: str) -> None:
    """Drop a version's pyramid and its description."""
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_pyramid_id(table)))
    conn.execute(
        "UPDATE catalogue.layer_version SET validation_report = validation_report - 'tile_pyramid' WHERE id = %s",
        (version_id,),
    )


def build_pyramid(
    conn: psycopg.Connection[Any],
    table: str,
    columns: Sequence[str],
    geometry_type: str,
    cells: Sequence[tuple[int, float]],
) -> int:
    """(Re)build ``layerdata.<table>_thin`` for ``cells`` = (zoom, cell size in metres), finest first.

    The finest zoom groups the points like the tile statement does (the same expression, the same
    bound cell size); each coarser zoom merges the cells of the next finer one (cells nest exactly:
    a cell is twice its children's size on the same origin). Returns the number of rows.
    """
    data, pyramid = sql.Identifier(DATA_SCHEMA, table), _pyramid_id(table)
    g = sql.SQL("t.geom_3857" if geometry_type == "Point" else "ST_GeometryN(t.geom_3857, 1)")
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(pyramid))
    conn.execute(
        "CREATE TEMP TABLE tile_pyramid_cells (z int2, cx float8, cy float8, fid bigint, n bigint, sx float8, "
        "sy float8) ON COMMIT DROP"
    )
    z, cell = cells[0]
    conn.execute(
        sql.SQL(
            "INSERT INTO tile_pyramid_cells SELECT %s::int2, floor((p.px - {origin}) / %s::float8) AS cx, "
            "floor((p.py - {origin}) / %s::float8) AS cy, min(p.fid), count(*), sum(p.px), sum(p.py) "
            "FROM (SELECT t.fid, ST_X({g}) AS px, ST_Y({g}) AS py FROM {data} AS t "
            "WHERE t.geom_3857 IS NOT NULL) AS p GROUP BY 2, 3"
        ).format(origin=sql.Literal(ORIGIN_M), g=g, data=data),
        (z, cell, cell),
    )
    for (finer, _), (z, _) in itertools.pairwise(cells):
        conn.execute(
            "INSERT INTO tile_pyramid_cells SELECT %s::int2, floor(c.cx / 2), floor(c.cy / 2), min(c.fid), "
            "sum(c.n), sum(c.sx), sum(c.sy) FROM tile_pyramid_cells AS c WHERE c.z = %s GROUP BY 2, 3",
            (z, finer),
        )
    attributes = sql.SQL("").join(sql.SQL(", t.{}").format(sql.Identifier(c)) for c in columns)
    conn.execute(
        sql.SQL(
            "CREATE TABLE {pyramid} AS SELECT c.z, c.cx::int4 AS cx, c.cy::int4 AS cy, c.n::int4 AS count, "
            "c.sx / c.n AS mx, c.sy / c.n AS my, "
            "t.fid{attributes}, t.geom_3857 FROM tile_pyramid_cells AS c JOIN {data} AS t ON t.fid = c.fid "
            "ORDER BY c.z, c.cy, c.cx"
        ).format(pyramid=pyramid, attributes=attributes, data=data)
    )
    for z, _cell in cells:  # one partial index per zoom: a tile reads only its zoom's cells
        conn.execute(
            sql.SQL("CREATE INDEX ON {} USING gist (geom_3857) WHERE z = {}").format(pyramid, sql.Literal(z))
        )
    conn.execute(sql.SQL("ANALYZE {}").format(pyramid))
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(pyramid)).fetchone()
    return int(row[0]) if row else 0


def describe_pyramid(conn: psycopg.Connection[Any], version_id: int, description: dict[str, Any]) -> None:
    """Record the pyramid's grid, zooms and build cost in the version's report (``tile_pyramid``)."""
    conn.execute(
        "UPDATE catalogue.layer_version SET validation_report = "
        "coalesce(validation_report, '{}'::jsonb) || jsonb_build_object('tile_pyramid', %s::jsonb) WHERE id = %s",
        (Jsonb(description), version_id),
    )


def _pyramid_id(table: str) -> sql.Identifier:
    return sql.Identifier(DATA_SCHEMA, f"{table}{PYRAMID_SUFFIX}")
