"""Administrative units on any date."""

from __future__ import annotations

from datetime import date

import asyncpg
import orjson

from gis_platform.admin import queries
from gis_platform.admin.models import Level, UnitFeature, UnitSource, UnitSummary
from gis_platform.errors import NotFound


def _summary(row: asyncpg.Record) -> UnitSummary:
    return UnitSummary.model_validate({k: row[k] for k in UnitSummary.model_fields})


async def list_units(
    conn: asyncpg.Connection,
    *,
    level: Level | None,
    at: date,
    q: str | None,
    parent: str | None,
    limit: int,
    offset: int,
) -> tuple[list[UnitSummary], int]:
    """Units valid on ``at`` and how many match in all."""
    rows = await queries.select_units(
        conn, level=level.value if level else None, at=at, q=q, parent=parent, limit=limit, offset=offset
    )
    matched = int(rows[0]["number_matched"]) if rows else 0
    return [_summary(r) for r in rows], matched


async def get_unit(conn: asyncpg.Connection, code: str, at: date, level: Level | None) -> UnitFeature:
    """One unit valid on ``at`` as a GeoJSON feature; :class:`NotFound` when none is."""
    row = await queries.select_unit(conn, code, at, level.value if level else None)
    if row is None:
        raise NotFound(
            f"No administrative unit with code {code!r} is valid on {at.isoformat()}.", parameter="code"
        )
    return UnitFeature(
        id=row["code"],
        geometry=orjson.loads(row["geometry"]) if row["geometry"] else None,
        properties=_summary(row),
        source=UnitSource(source=row["source"], licence=row["licence"], attribution=row["attribution"]),
    )


async def locate(conn: asyncpg.Connection, level: Level, at: date, lon: float, lat: float) -> UnitSummary:
    """The unit of ``level`` containing (lon, lat) on ``at``; :class:`NotFound` outside every unit."""
    row = await queries.select_unit_at_point(conn, level.value, at, lon, lat)
    if row is None:
        raise NotFound(
            f"No {level.value} valid on {at.isoformat()} contains ({lon}, {lat}).", parameter="lon,lat"
        )
    return _summary(row)


async def boundaries(
    conn: asyncpg.Connection, level: Level, at: date, tolerance: float, parent: str | None
) -> str:
    """GeoJSON text of every unit of ``level`` on ``at``."""
    return await queries.select_boundaries(conn, level.value, at, tolerance, parent)
