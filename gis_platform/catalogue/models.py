"""Response models and query enums of the catalogue API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class GeometryFilter(StrEnum):
    """Geometry types a layer can have (``Geometry`` for mixed uploads)."""

    Point = "Point"
    LineString = "LineString"
    Polygon = "Polygon"
    MultiPoint = "MultiPoint"
    MultiLineString = "MultiLineString"
    MultiPolygon = "MultiPolygon"
    Geometry = "Geometry"


class Link(BaseModel):
    """A web link (OGC API style)."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LayerSummary(BaseModel):
    """One catalogue layer as listed."""

    slug: str
    title_vi: str
    title_en: str
    description_vi: str
    description_en: str
    category: str
    category_title_vi: str
    category_title_en: str
    agency: str
    licence: str
    attribution: str
    geometry_type: str
    synthetic: bool
    visibility: str
    current_version: int | None = Field(description="Published version, null until data is loaded.")
    feature_count: int | None
    bbox: list[float] | None = Field(
        description="[minx, miny, maxx, maxy] in EPSG:4326 of the current version."
    )
    keywords: list[str]
    update_frequency: str
    links: list[Link]


class LayerList(BaseModel):
    """A page of layers, ranked by relevance when searching."""

    layers: list[LayerSummary]
    numberMatched: int
    numberReturned: int
    links: list[Link]


class VersionSummary(BaseModel):
    """One version of a layer's data."""

    version: int
    status: str
    feature_count: int | None
    checksum: str | None
    created_at: datetime
    published_at: datetime | None
    author: str | None


class LayerDetail(LayerSummary):
    """One layer with its attribute schema, style, tile hints and versions."""

    attributes: list[dict[str, Any]]
    style: dict[str, Any] | None
    tiles: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    versions: list[VersionSummary]


class CategorySummary(BaseModel):
    """A category with its number of public layers."""

    id: str
    title_vi: str
    title_en: str
    count: int


class CategoryList(BaseModel):
    """Every category."""

    categories: list[CategorySummary]
