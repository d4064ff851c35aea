"""HTTP routes of the statistics: the registry, values, profiles, choropleths and (editors) imports."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile

from gis_platform.admin.models import Level
from gis_platform.auth.deps import EditorDep, VisibilityDep
from gis_platform.stats import service
from gis_platform.stats.choropleth import Scheme
from gis_platform.stats.deps import (
    AtQuery,
    IndicatorQuery,
    KQuery,
    LevelQuery,
    PeriodQuery,
    SchemeQuery,
    UnitCodePath,
)
from gis_platform.stats.models import Choropleth, ImportReport, IndicatorList, UnitProfile, ValuesResponse
from gis_platform.stats.observations import MAX_UPLOAD_BYTES, UploadTooLarge
from gis_platform.web.deps import ConnDep, ReadConnDep

router = APIRouter(prefix="/stats", tags=["statistics"])


@router.get(
    "/indicators", name="stats:indicators", response_model=IndicatorList, summary="The indicator registry"
)
async def list_indicators(conn: ReadConnDep) -> IndicatorList:
    """Every indicator: names, unit, how it rolls up, source, licence and whether it is synthetic."""
    return await service.list_indicators(conn)


@router.get(
    "/values", name="stats:values", response_model=ValuesResponse, summary="Values on a day's boundaries"
)
async def get_values(
    conn: ReadConnDep, indicator: IndicatorQuery, level: LevelQuery = Level.ward, at: AtQuery = None,
    period: PeriodQuery = None,
) -> ValuesResponse:  # fmt: skip
    """Values of ``indicator`` per unit valid on ``at``, converted from other boundaries where needed."""
    return await service.compute_values(conn, indicator, level.value, at or date.today(), period)


@router.get("/units/{code}", name="stats:unit", response_model=UnitProfile, summary="A unit's profile")
async def get_profile(
    conn: ReadConnDep, access: VisibilityDep, code: UnitCodePath, at: AtQuery = None,
    level: Annotated[Level | None, Query(description="Level, when codes are shared")] = None,
) -> UnitProfile:  # fmt: skip
    """Every indicator's time series for one unit (on its own boundaries) and its top layer aggregates."""
    return await service.profile(conn, code, at or date.today(), level.value if level else None,
                                 internal=access.internal)  # fmt: skip


@router.get(
    "/choropleth", name="stats:choropleth", response_model=Choropleth, summary="Class breaks and colours"
)
async def get_choropleth(
    conn: ReadConnDep, indicator: IndicatorQuery, level: LevelQuery = Level.ward, at: AtQuery = None,
    period: PeriodQuery = None, scheme: SchemeQuery = Scheme.quantiles, k: KQuery = 5,
) -> Choropleth:  # fmt: skip
    """Breaks, colours and legend of ``indicator`` (mapclassify; ColorBrewer YlOrRd)."""
    return await service.choropleth(conn, indicator, level.value, at or date.today(), period, scheme, k)


@router.post(
    "/observations", name="stats:import", response_model=ImportReport, summary="Import observations (editor)",
    responses={401: {"description": "No or bad token"}, 403: {"description": "Not an editor"},
               413: {"description": "File too large"}, 422: {"description": "Rows that do not match or validate"}},
)  # fmt: skip
async def post_observations(
    conn: ConnDep,
    principal: EditorDep,
    file: Annotated[
        UploadFile, File(description="CSV or XLSX: value, and unit_code or unit_name [+ parent_name]")
    ],
    indicator: Annotated[str, Form(min_length=2, max_length=63, pattern=r"^[a-z][a-z0-9_]+$")],
    period: Annotated[str, Form(max_length=7, description="YYYY, YYYY-Qn or YYYY-MM")],
    level: Annotated[Level, Form()] = Level.ward,
    at: Annotated[date | None, Form(description="Boundaries of this day (default: the period's end)")] = None,
    allow_partial: Annotated[
        bool, Form(description="Write the matched rows even if some do not match")
    ] = False,
    dry_run: Annotated[bool, Form(description="Check and report only")] = False,
) -> dict[str, Any]:
    """Import one file of observations: every row is written in one transaction, or none is."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadTooLarge(f"The file is larger than {MAX_UPLOAD_BYTES // 1_000_000} MB.")
    return await service.import_observations(
        conn, data, file.filename or "upload.csv", indicator=indicator, period=period, level=level.value, at=at,
        allow_partial=allow_partial, dry_run=dry_run, author=principal.actor,
    )  # fmt: skip
