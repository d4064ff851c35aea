"""Response models of the layer aggregates."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class UnitAggregate(BaseModel):
    """One unit's figures for one layer."""

    unit_code: str
    name: str
    boundary_version: str
    area_km2: float | None
    count: int = Field(description="Features in the unit (a point on a shared border counts once).")
    length_km: float | None = Field(None, description="Length of lines inside the unit (ellipsoidal).")
    area_covered_km2: float | None = Field(None, description="Area of polygons inside the unit.")
    per_km2: float | None = Field(description="count / unit area.")
    length_km_per_km2: float | None = None
    area_share: float | None = Field(None, description="area_covered_km2 / unit area.")
    population: float | None
    per_10k_residents: float | None = Field(description="count / population x 10,000.")


class PopulationSource(BaseModel):
    """Which population the per-resident figures use."""

    indicator: str
    period: str | None
    method: str | None
    method_detail: str | None
    synthetic: bool


class AggregatesResponse(BaseModel):
    """A layer's aggregates per unit of one level on one day's boundaries."""

    layer: str
    title_vi: str
    title_en: str
    geometry_type: str
    version: int
    computed_at: datetime
    level: str
    at: date
    boundary_versions: list[str]
    population: PopulationSource
    totals: dict[str, float]
    units: list[UnitAggregate]


class LayerFigure(BaseModel):
    """One layer's figures in a unit profile."""

    layer: str
    title_vi: str
    title_en: str
    geometry_type: str
    version: int
    count: int
    length_km: float | None = None
    area_covered_km2: float | None = None
    per_km2: float | None
    per_10k_residents: float | None
