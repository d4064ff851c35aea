"""Request and response models of the ingest API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,62}$"
GeometryType = Literal[
    "Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon", "Geometry"
]


class Link(BaseModel):
    """A link to a related resource."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LayerCreate(BaseModel):
    """Metadata of a new layer created through the API (its data comes with ``POST …/versions``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    slug: str = Field(pattern=SLUG_PATTERN, description="Lower-case id used in URLs: a-z, 0-9, - and _.")
    title_vi: str = Field(min_length=1, max_length=300)
    title_en: str = Field(min_length=1, max_length=300)
    description_vi: str = Field(default="", max_length=10_000)
    description_en: str = Field(default="", max_length=10_000)
    description: str | None = Field(
        default=None, max_length=10_000, description="Shorthand for description_vi."
    )
    category: str = Field(min_length=1, max_length=63)
    agency: str = Field(min_length=1, max_length=300)
    licence: str = Field(min_length=1, max_length=300)
    attribution: str = Field(min_length=1, max_length=500)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    update_frequency: str = Field(default="irregular", max_length=50)
    geometry_type: GeometryType
    visibility: Literal["public", "internal"] = "public"
    synthetic: bool = False

    @model_validator(mode="after")
    def _description(self) -> LayerCreate:
        if self.description and not self.description_vi:
            self.description_vi = self.description
        return self


class LayerCreated(BaseModel):
    """The layer as created."""

    slug: str
    title_vi: str
    title_en: str
    description_vi: str
    description_en: str
    category: str
    agency: str
    licence: str
    attribution: str
    keywords: list[str]
    update_frequency: str
    geometry_type: str
    visibility: str
    synthetic: bool
    current_version: int | None
    managed_by: str
    created_at: datetime
    links: list[Link]


class JobVersion(BaseModel):
    """The version a job made."""

    version: int
    status: str | None = None
    feature_count: int | None = None
    bbox: list[float] | None = None
    geometry_type: str | None = None


class Job(BaseModel):
    """An ingest job: where it is, what it found, what it made."""

    id: UUID
    layer: str
    status: Literal["queued", "running", "succeeded", "failed"]
    stage: str | None
    progress: float = Field(ge=0, le=1)
    rows_done: int
    publish: bool
    version: JobVersion | None
    report: dict[str, Any]
    error: dict[str, Any] | None = Field(description="An RFC 9457 problem when the job failed.")
    author: str | None
    created_at: datetime
    updated_at: datetime
    links: list[Link]


class JobAccepted(BaseModel):
    """Answer of an upload: the job, and where to follow it."""

    job: Job
    links: list[Link]


class VersionPublished(BaseModel):
    """A version after publish or rollback."""

    layer: str
    version: int
    status: str
    feature_count: int
    bbox: list[float] | None
    geometry_type: str | None
    links: list[Link]
