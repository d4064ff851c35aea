"""Request and response models of the statistics API."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from gis_platform.stats.aggregates.models import LayerFigure


class IndicatorOut(BaseModel):
    """One indicator of the registry."""

    code: str
    name_vi: str
    name_en: str
    description: str
    category: str
    unit: str
    kind: str = Field(description="observed, geometry (from the polygon), layer or derived")
    aggregation: str = Field(description="sum, mean (weighted by weight_indicator) or ratio")
    value_type: str
    weight_indicator: str | None
    numerator: str | None
    denominator: str | None
    scale: float
    levels: list[str]
    source: str
    source_url: str | None
    licence: str
    synthetic: bool


class IndicatorList(BaseModel):
    """The indicator registry."""

    indicators: list[IndicatorOut]


class UnitValue(BaseModel):
    """The value of one unit."""

    unit_code: str
    name: str | None = None
    value: float
    method: str
    synthetic: bool
    note: str | None = None


class ValuesResponse(BaseModel):
    """Values of one indicator on the boundaries valid on one day."""

    indicator: str
    level: str
    at: date
    period: str
    boundary_versions: list[str]
    method: str = Field(description="direct, rollup, crosswalk, geometry, ratio (…) or mixed")
    methods: dict[str, int] = Field(description="How many values each method produced.")
    method_detail: str
    synthetic: bool = Field(description="True when any value rests on synthetic data.")
    values: list[UnitValue]
    missing: list[str] = Field(description="Units of the level without a value.")


class SeriesPoint(BaseModel):
    """One period of a time series."""

    period: str
    value: float
    method: str
    synthetic: bool
    note: str | None = None


class IndicatorSeries(BaseModel):
    """One indicator's time series for a unit."""

    code: str
    name_vi: str
    name_en: str
    unit: str
    category: str
    synthetic: bool
    series: list[SeriesPoint]


class ProfileUnit(BaseModel):
    """The unit a profile describes."""

    code: str
    level: str
    name_vi: str
    full_name_vi: str | None
    name_en: str | None
    unit_type: str | None
    parent_code: str | None
    parent_name: str | None
    boundary_version: str
    valid_from: date
    valid_to: date | None
    geom_quality: str | None
    area_km2: float | None


class UnitProfile(BaseModel):
    """A ward profile: every indicator with its time series."""

    at: date
    unit: ProfileUnit
    indicators: list[IndicatorSeries]
    layers: list[LayerFigure] = Field(
        default_factory=list, description="The published layers with the most features in the unit."
    )


class LegendEntry(BaseModel):
    """One class of a choropleth."""

    lower: float
    upper: float
    color: str
    count: int
    label: str


class Choropleth(BaseModel):
    """Class breaks and colours of one indicator on one day's boundaries."""

    indicator: str
    level: str
    at: date
    period: str
    scheme: str
    k: int
    breaks: list[float] = Field(description="Upper bound of each class.")
    colors: list[str]
    legend: list[LegendEntry]
    classes: dict[str, int] = Field(description="unit_code → class index (0-based).")
    method: str
    synthetic: bool


class ImportReport(BaseModel):
    """What an import matched, rejected and wrote."""

    indicator: str
    period: str
    level: str
    at: str
    boundary_version: str | None
    dry_run: bool
    rows: int
    matched: int
    unmatched: list[dict[str, Any]]
    ambiguous: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    written: dict[str, int]
    import_run: int | None = None
