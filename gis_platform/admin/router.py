"""HTTP routes of the administrative units."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from gis_platform.admin import service
from gis_platform.admin.models import Level, UnitFeature, UnitList
from gis_platform.web.deps import ConnDep

router = APIRouter(prefix="/admin", tags=["administrative units"])

AtQuery = Annotated[
    date | None,
    Query(description="The date the boundaries must be valid on (YYYY-MM-DD); today when omitted."),
]


@router.get(
    "/units", name="admin:units", response_model=UnitList, summary="Administrative units valid on a date"
)
async def list_units(
    request: Request,
    conn: ConnDep,
    at: AtQuery = None,
    level: Annotated[
        Level | None, Query(description="city, district, ward, neighbourhood or residential_group")
    ] = None,
    q: Annotated[str | None, Query(max_length=100, description="Name or code; diacritics optional")] = None,
    parent: Annotated[str | None, Query(max_length=16, pattern=r"^[0-9A-Za-z_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UnitList:
    """List the units valid on ``at``, optionally of one level, under one parent or matching ``q``."""
    day = at or date.today()
    units, matched = await service.list_units(
        conn, level=level, at=day, q=q or None, parent=parent, limit=limit, offset=offset
    )
    links = [{"href": str(request.url), "rel": "self", "type": "application/json"}]
    if offset + len(units) < matched:
        links.append(
            {"href": str(request.url.include_query_params(offset=offset + limit)), "rel": "next",
             "type": "application/json"}
        )  # fmt: skip
    return UnitList(at=day, numberMatched=matched, numberReturned=len(units), units=units, links=links)


@router.get(
    "/units/{code}",
    name="admin:unit",
    response_model=UnitFeature,
    summary="One unit with its geometry (GeoJSON)",
)
async def get_unit(
    conn: ConnDep,
    code: Annotated[str, Path(max_length=16, pattern=r"^[0-9A-Za-z_-]+$")],
    at: AtQuery = None,
    level: Annotated[Level | None, Query()] = None,
) -> UnitFeature:
    """Return the unit with ``code`` valid on ``at`` (codes are reused across boundary versions)."""
    return await service.get_unit(conn, code, at or date.today(), level)
