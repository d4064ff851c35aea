"""Types of the features API: layer metadata, parsed requests and documented response shapes.

Features themselves never become Python objects: PostGIS writes their JSON, CSV or SVG text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

from gis_platform.features.crs import CRS84, Crs

if TYPE_CHECKING:
    from psycopg import sql

    from gis_platform.features.binds import Binds

#: Attribute types of layer columns (``catalogue.layer_version.columns[].type``).
FieldType = Literal["text", "integer", "double", "boolean", "date", "datetime"]
Format = Literal["json", "html", "csv"]


@dataclass(frozen=True)
class Field:
    """One property of a collection's features: a column of the version's table or a joined value."""

    name: str
    type: FieldType
    title: str
    #: SQL for the value, in terms of the data table aliased ``t`` (and any joins).
    expr: sql.Composable


@dataclass(frozen=True)
class Join:
    """Extra properties joined onto a layer's rows (statistics: ``?join=indicator`` on admin layers).

    ``clause`` renders the ``LEFT JOIN … ON …`` fragment; it receives the statement's bind
    collector so any value it needs is a bind parameter. Its ``fields`` then behave like columns:
    selectable, sortable and usable in filters.
    """

    name: str
    clause: Callable[[Binds], sql.Composable]
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Collection:
    """A published public layer as a collection: catalogue metadata and its current version."""

    layer_id: int
    slug: str
    title: str
    title_vi: str
    description: str
    keywords: tuple[str, ...]
    licence: str
    attribution: str
    geometry_type: str
    version: int
    table: str
    feature_count: int
    bbox: tuple[float, float, float, float] | None
    fields: tuple[Field, ...]
    published_at: datetime | None = None
    joins: tuple[Join, ...] = ()

    def field(self, name: str) -> Field | None:
        """The property called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def temporal_field(self) -> Field | None:
        """The first date or datetime property: what ``datetime`` filters on."""
        return next((f for f in self.fields if f.type in ("date", "datetime")), None)

    def with_join(self, join: Join) -> Collection:
        """This collection with the properties of ``join`` added."""
        clash = {f.name for f in join.fields} & {f.name for f in self.fields}
        if clash:
            raise ValueError(f"join {join.name!r} redefines {sorted(clash)}")
        return replace(self, fields=self.fields + join.fields, joins=(*self.joins, join))


@dataclass(frozen=True)
class BBox:
    """A bounding box in the request's ``bbox-crs`` (x/y order already resolved)."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    crs: Crs = CRS84


@dataclass(frozen=True)
class TimeFilter:
    """A ``datetime`` filter as bounds in the temporal property's own type; ``None`` ends are open."""

    start: date | datetime | None
    end: date | datetime | None
    #: True when ``end`` is the first value after the interval (a whole day on a datetime property).
    end_exclusive: bool = False


@dataclass(frozen=True)
class SortKey:
    """One ``sortby`` key."""

    field: Field
    descending: bool = False


@dataclass(frozen=True)
class ItemsQuery:
    """Everything an items request asks for, validated against the collection."""

    limit: int = 10
    offset: int = 0
    bbox: BBox | None = None
    datetime: TimeFilter | None = None
    equals: tuple[tuple[Field, tuple[Any, ...]], ...] = ()
    #: The CQL2 filter in CQL2-JSON form (normalised by the parser).
    filter: Any = None
    filter_crs: Crs = CRS84
    #: Selected properties (``None``: all of them).
    properties: tuple[Field, ...] | None = None
    sortby: tuple[SortKey, ...] = ()
    crs: Crs = CRS84
    fid: int | None = None

    @property
    def filtered(self) -> bool:
        """True when anything narrows the layer's rows."""
        return bool(
            self.bbox or self.datetime or self.equals or self.filter is not None or self.fid is not None
        )


# --- documented response shapes (OpenAPI); responses themselves are streamed or built as dicts ---


class Link(BaseModel):
    """A web link (OGC API Common)."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class ConformanceDoc(BaseModel):
    """The conformance declaration."""

    conformsTo: list[str]


class Extent(BaseModel):
    """Spatial and temporal extent of a collection."""

    spatial: dict[str, Any] | None = None
    temporal: dict[str, Any] | None = None


class CollectionDoc(BaseModel):
    """One collection's metadata."""

    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    description: str | None = None
    keywords: list[str] = PydanticField(default_factory=list)
    itemType: str = "feature"
    crs: list[str]
    storageCrs: str
    extent: Extent | None = None
    links: list[Link]


class CollectionsDoc(BaseModel):
    """The list of collections."""

    links: list[Link]
    collections: list[CollectionDoc]
    crs: list[str] | None = None
