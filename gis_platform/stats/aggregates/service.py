"""Layer aggregates for the API: per unit of a level on a day's boundaries, and the top ones of a unit."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from gis_platform.errors import InvalidParameter, NotFound, PlatformError
from gis_platform.stats import service as stats_service
from gis_platform.stats.aggregates import queries
from gis_platform.stats.aggregates.figures import ratio as _ratio
from gis_platform.stats.aggregates.models import AggregatesResponse, PopulationSource, UnitAggregate

POPULATION = "population"


class AggregatesPending(PlatformError):
    """The layer's published version has no aggregates yet (they are computed after each publish)."""

    type = "aggregates-pending"
    title = "Aggregates not computed yet"
    status = 409


async def _population(
    conn: asyncpg.Connection, level: str, at: date
) -> tuple[dict[str, float], PopulationSource]:
    """Population per unit code of ``level`` on ``at`` (the statistics' values: direct, rollup or crosswalk)."""
    try:
        values = await stats_service.compute_values(conn, POPULATION, level, at, None)
    except (NotFound, InvalidParameter):
        return {}, PopulationSource(indicator=POPULATION, period=None, method=None, method_detail=None,
                                    synthetic=False)  # fmt: skip
    source = PopulationSource(indicator=POPULATION, period=values.period, method=values.method,
                              method_detail=values.method_detail, synthetic=values.synthetic)  # fmt: skip
    return {v.unit_code: v.value for v in values.values}, source


def _unit(row: asyncpg.Record, population: float | None) -> UnitAggregate:
    count = int(row["feature_count"] or 0)
    area = float(row["area_km2"]) if row["area_km2"] is not None else None
    length_km = round(float(row["length_m"]) / 1000, 6) if row["length_m"] is not None else None
    covered = round(float(row["area_m2"]) / 1e6, 6) if row["area_m2"] is not None else None
    return UnitAggregate(
        unit_code=row["code"], name=row["name_vi"], boundary_version=row["boundary_version"], area_km2=area,
        count=count, length_km=length_km, area_covered_km2=covered, per_km2=_ratio(count, area),
        length_km_per_km2=_ratio(length_km, area), area_share=_ratio(covered, area), population=population,
        per_10k_residents=_ratio(count, population, 10_000),
    )  # fmt: skip


async def layer_aggregates(
    conn: asyncpg.Connection, slug: str, level: str, at: date, *, internal: bool
) -> AggregatesResponse:
    """Count, length or area, and densities of layer ``slug`` for every unit of ``level`` valid on ``at``."""
    if level not in queries.LEVELS:
        raise InvalidParameter("level", f"layer aggregates exist for {', '.join(queries.LEVELS)}")
    layer = await queries.fetch_layer(conn, slug, internal)
    if layer is None:
        raise NotFound(f"No published layer with slug {slug!r}.", parameter="layer")
    if not layer["computed"]:
        raise AggregatesPending(f"The aggregates of {slug!r} version {layer['version']} are being computed; "
                                "retry in a few seconds.", layer=slug, version=layer["version"])  # fmt: skip
    rows = await queries.fetch_units(conn, layer["version_id"], level, at)
    if not rows:
        raise NotFound(f"No {level} units with polygons are valid on {at.isoformat()}.", parameter="at")
    population, source = await _population(conn, level, at)
    units = [_unit(r, population.get(r["code"])) for r in rows]
    totals: dict[str, Any] = {"count": sum(u.count for u in units)}
    if any(u.length_km is not None for u in units):
        totals["length_km"] = round(sum(u.length_km or 0 for u in units), 6)
    if any(u.area_covered_km2 is not None for u in units):
        totals["area_covered_km2"] = round(sum(u.area_covered_km2 or 0 for u in units), 6)
    return AggregatesResponse(
        layer=slug, title_vi=layer["title_vi"], title_en=layer["title_en"], geometry_type=layer["geometry_type"],
        version=layer["version"], computed_at=layer["computed_at"], level=level, at=at,
        boundary_versions=sorted({r["boundary_version"] for r in rows}), population=source, totals=totals,
        units=units,
    )  # fmt: skip
