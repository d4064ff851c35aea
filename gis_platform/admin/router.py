"""HTTP routes of the administrative units."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from gis_platform.admin import service
from gis_platform.admin.models import Level, UnitFeature, UnitList, UnitSummary
from gis_platform.web.deps import ReadConnDep

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
    conn: ReadConnDep,
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
    "/units/locate", name="admin:locate", response_model=UnitSummary, summary="The unit containing a point"
)
async def locate_unit(
    conn: ReadConnDep,
    lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="Longitude (WGS84)")],
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="Latitude (WGS84)")],
    at: AtQuery = None,
    level: Annotated[Level, Query()] = Level.ward,
) -> UnitSummary:
    """Return the unit of ``level`` valid on ``at`` that contains the point (for popups)."""
    return await service.locate(conn, level, at or date.today(), lon, lat)


@router.get(
    "/boundaries",
    name="admin:boundaries",
    summary="Every unit of a level on a date as one GeoJSON FeatureCollection (simplified)",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
async def boundaries(
    conn: ReadConnDep,
    at: AtQuery = None,
    level: Annotated[Level, Query()] = Level.ward,
    tolerance: Annotated[float, Query(ge=0, le=0.01, description="Simplification in degrees")] = 0.0002,
    parent: Annotated[str | None, Query(max_length=16, pattern=r"^[0-9A-Za-z_-]+$")] = None,
) -> Response:
    """Return the boundaries for choropleths and outlines."""
    text = await service.boundaries(conn, level, at or date.today(), tolerance, parent)
    return Response(text, media_type="application/geo+json", headers={"Cache-Control": "public, max-age=300"})


@router.get(
    "/units/{code}",
    name="admin:unit",
    response_model=UnitFeature,
    summary="One unit with its geometry (GeoJSON)",
)
async def get_unit(
    conn: ReadConnDep,
    code: Annotated[str, Path(max_length=16, pattern=r"^[0-9A-Za-z_-]+$")],
    at: AtQuery = None,
    level: Annotated[Level | None, Query()] = None,
) -> UnitFeature:
    """Return the unit with ``code`` valid on ``at`` (codes are reused across boundary versions)."""
    return await service.get_unit(conn, code, at or date.today(), level)
