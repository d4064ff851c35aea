"""Response models and query enums of the catalogue API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class LayerPatch(BaseModel):
    """A JSON merge patch of a layer's editable metadata (admins); fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title_vi: str | None = Field(default=None, min_length=1, max_length=300)
    title_en: str | None = Field(default=None, min_length=1, max_length=300)
    description_vi: str | None = Field(default=None, max_length=10_000)
    description_en: str | None = Field(default=None, max_length=10_000)
    category: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{0,62}$")
    agency: str | None = Field(default=None, min_length=1, max_length=300)
    licence: str | None = Field(default=None, min_length=1, max_length=300)
    attribution: str | None = Field(default=None, min_length=1, max_length=500)
    keywords: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=50
    )
    update_frequency: str | None = Field(default=None, min_length=1, max_length=50)
    visibility: Literal["public", "internal"] | None = Field(
        default=None, description="internal: only callers with a token (viewer and above) see the layer."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # in a merge patch null removes a member; every editable field is required, so null is an error
        if isinstance(data, dict):
            nulls = sorted(k for k, v in data.items() if v is None and k in cls.model_fields)
            if nulls:
                raise ValueError(f"{', '.join(nulls)} cannot be null (leave a field out to keep it)")
        return data

    def changes(self) -> dict[str, Any]:
        """The fields the patch sets."""
        return self.model_dump(exclude_unset=True)
