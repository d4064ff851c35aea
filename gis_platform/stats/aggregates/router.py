"""HTTP route of the layer aggregates: ``GET /stats/aggregates``."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from gis_platform.admin.models import Level
from gis_platform.auth.deps import VisibilityDep
from gis_platform.stats.aggregates import service
from gis_platform.stats.aggregates.deps import LayerQuery
from gis_platform.stats.aggregates.models import AggregatesResponse
from gis_platform.stats.deps import AtQuery, LevelQuery
from gis_platform.web.deps import ReadConnDep

router = APIRouter(prefix="/stats", tags=["statistics"])


@router.get(
    "/aggregates", name="stats:aggregates", response_model=AggregatesResponse,
    summary="A layer's count, length or area and densities per unit",
    responses={404: {"description": "Unknown (or internal) layer"}, 409: {"description": "Not computed yet"}},
)  # fmt: skip
async def get_aggregates(
    conn: ReadConnDep, access: VisibilityDep, layer: LayerQuery, level: LevelQuery = Level.ward,
    at: AtQuery = None,
) -> AggregatesResponse:  # fmt: skip
    """Features of ``layer`` per unit of ``level`` valid on ``at``, with densities.

    Count, length or area, per km² and per 10,000 residents (population from the statistics on the
    same boundaries). Anonymous callers see public layers; a viewer token or above also internal ones.
    """
    return await service.layer_aggregates(
        conn, layer, level.value, at or date.today(), internal=access.internal
    )
