"""Response models of the administrative-unit API."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class Level(StrEnum):
    """Levels of HCMC's administrative hierarchy."""

    city = "city"
    district = "district"
    ward = "ward"
    neighbourhood = "neighbourhood"
    residential_group = "residential_group"


class UnitSummary(BaseModel):
    """One unit as listed."""

    code: str
    level: Level
    unit_type: str | None
    name_vi: str
    full_name_vi: str | None
    name_ascii: str
    name_en: str | None
    full_name_en: str | None
    parent_code: str | None
    valid_from: date
    valid_to: date | None
    boundary_version: str
    geom_quality: str | None
    area_km2: float | None = Field(description="Area on the WGS84 ellipsoid, km².")
    area_km2_official: float | None = Field(description="Area given by the source, km².")
    has_geometry: bool


class UnitList(BaseModel):
    """A page of units valid on one date."""

    at: date
    numberMatched: int
    numberReturned: int
    units: list[UnitSummary]
    links: list[dict[str, str]]


class UnitSource(BaseModel):
    """Where a unit's boundary comes from."""

    source: str
    licence: str
    attribution: str


class UnitFeature(BaseModel):
    """One unit as a GeoJSON Feature."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: UnitSummary
    source: UnitSource
