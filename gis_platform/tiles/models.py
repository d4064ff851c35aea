"""Tile types: the catalogue as the tile server sees it, zoom rules, cached tiles and response models."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

POINT_TYPES = frozenset({"Point", "MultiPoint"})
LINE_TYPES = frozenset({"LineString", "MultiLineString"})


@dataclass(frozen=True, slots=True)
class Column:
    """One attribute column of a layer version (safe SQL name, original name, platform type)."""

    name: str
    original: str
    type: str


@dataclass(frozen=True, slots=True)
class JoinedAttributes:
    """Attributes joined onto a layer's features from another relation (e.g. statistics per ward).

    ``LEFT JOIN {schema}.{relation} AS j ON j.{foreign_key} = t.{key}`` adds ``j.{column}`` for each
    column; ``tag`` identifies the joined data's state and is part of every cache key, so a change of
    the joined data (a new statistics period, say) gives new tile URLs and keys.

    With ``arrays`` (the keys, then one array per column) the rows are bind parameters instead of a
    relation: ``LEFT JOIN unnest($k::text[], $c1::float8[], …) AS j(foreign_key, column…)``
    (``schema`` and ``relation`` are then only descriptive).
    """

    schema: str
    relation: str
    key: str
    foreign_key: str
    columns: tuple[Column, ...]
    tag: str
    arrays: tuple[tuple[Any, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Pyramid:
    """A version's point pyramid (``layerdata.<table>_thin``): per zoom, one row per occupied grid cell.

    Each row is the cell's lowest-fid point (its attributes and geometry), the cell's exact ``count``
    and the mean of its points (``mx``, ``my``); built at publish for the zooms the layer thins or
    clusters, with ``grid_cells`` cells per tile side.
    """

    table_name: str
    grid_cells: int
    min_zoom: int
    max_zoom: int


@dataclass(frozen=True, slots=True)
class LayerVersion:
    """A servable version of a layer: its table still exists (published or superseded)."""

    slug: str
    version: int
    table_name: str
    columns: tuple[Column, ...]
    bbox: tuple[float, float, float, float] | None
    geometry_type: str
    feature_count: int
    token: str  # changes when the data can have changed: the cache key of this version's tiles
    pyramid: Pyramid | None = None  # the version's thinned/clustered cells, built at publish

    def pyramid_at(self, z: int, grid_cells: int) -> str | None:
        """The pyramid table that holds the cells of zoom ``z`` on a ``grid_cells`` grid, if any."""
        p = self.pyramid
        if p is None or p.grid_cells != grid_cells or not p.min_zoom <= z <= p.max_zoom:
            return None
        return p.table_name

    @property
    def key(self) -> str:
        """Cache key of the version: ``slug@version.token``."""
        return f"{self.slug}@{self.version}.{self.token}"


class Mode(enum.Enum):
    """How features are written into a tile at one zoom."""

    plain = "plain"  # every feature, thinned only when the tile would be too large
    thin = "thin"  # one point per grid cell (with the cell's count)
    cluster = "cluster"  # one point per grid cell at the cell's centroid, attribute ``count`` only


@dataclass(frozen=True, slots=True)
class ZoomRule:
    """What a layer's tile at one zoom contains."""

    attributes: tuple[str, ...]
    simplify_px: float
    mode: Mode


@dataclass(frozen=True, slots=True)
class TileRules:
    """A layer's tile settings, parsed once with defaults for missing keys."""

    minzoom: int
    maxzoom: int
    buffer: int
    attributes_by_zoom: tuple[tuple[int, tuple[str, ...]], ...] = ()
    simplify_by_zoom: tuple[tuple[int, float], ...] = ()
    thin_below: int | None = None
    cluster_below: int | None = None


@dataclass(frozen=True, slots=True)
class TileLayer:
    """A catalogue layer with its servable versions."""

    id: int
    slug: str
    title: str
    description: str
    attribution: str
    licence: str
    geometry_type: str
    visibility: str
    current_version: int | None
    style: dict[str, Any] | None
    rules: TileRules
    versions: dict[int, LayerVersion] = field(default_factory=dict)

    @property
    def current(self) -> LayerVersion | None:
        """The published version, when its table exists."""
        return self.versions.get(self.current_version) if self.current_version is not None else None

    @property
    def public(self) -> bool:
        """True when anyone may see the layer."""
        return self.visibility == "public"


@dataclass(frozen=True, slots=True)
class TileRef:
    """One or more layer versions resolved for a request, and the cache key of the set.

    ``public`` (every layer of the set is public: anyone may have its tiles, and caches may keep them),
    ``minzoom`` and ``maxzoom`` (over the layers) are worked out once: every tile request asks.
    """

    layers: tuple[TileLayer, ...]
    versions: tuple[LayerVersion, ...]
    joins: tuple[tuple[JoinedAttributes, ...], ...]
    key: str
    versioned: bool
    public: bool = field(init=False)
    minzoom: int = field(init=False)
    maxzoom: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public", all(layer.public for layer in self.layers))
        object.__setattr__(self, "minzoom", min(layer.rules.minzoom for layer in self.layers))
        object.__setattr__(self, "maxzoom", max(layer.rules.maxzoom for layer in self.layers))


@dataclass(slots=True)
class CachedTile:
    """A tile as the cache holds it: gzip bytes, or the plain MVT until it is compressed.

    ``data`` is ``b""`` for a tile without features. The ETags derive from the cache key (layer
    versions and z/x/y), which names one content: equal for every worker, no hashing of bytes.
    """

    data: bytes
    gzipped: bool
    tag: bytes  # the bare hash both ETags share (If-None-Match matches either)
    etag: bytes  # quoted ETag of the gzip representation
    etag_identity: bytes  # quoted ETag of the uncompressed representation

    @property
    def empty(self) -> bool:
        """True for a tile without features."""
        return not self.data


@dataclass
class TileStats:
    """Counters of one tile service (tests and benchmarks read them)."""

    sql_executions: int = 0
    memory_hits: int = 0
    disk_hits: int = 0
    redis_hits: int = 0
    catalogue_loads: int = 0


# --- response models (documentation of the JSON answers) -----------------------------------------


class VectorLayer(BaseModel):
    """One layer of a vector tileset (TileJSON ``vector_layers``)."""

    id: str
    fields: dict[str, str]
    description: str = ""
    minzoom: int
    maxzoom: int


class TileJSON(BaseModel):
    """TileJSON 3.0.0 of one layer or a composite of layers."""

    model_config = ConfigDict(extra="allow")

    tilejson: str = "3.0.0"
    tiles: list[str]
    name: str
    description: str = ""
    version: str
    attribution: str = ""
    scheme: str = "xyz"
    bounds: list[float] = Field(min_length=4, max_length=4)
    center: list[float] = Field(min_length=3, max_length=3)
    minzoom: int
    maxzoom: int
    vector_layers: list[VectorLayer]


class Link(BaseModel):
    """An OGC API link."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None
    templated: bool | None = None


class TileSetSummary(BaseModel):
    """One tileset of a collection (OGC API - Tiles ``tilesets``)."""

    model_config = ConfigDict(populate_by_name=True)

    title: str
    data_type: str = Field(default="vector", alias="dataType")
    crs: str
    tile_matrix_set_uri: str = Field(alias="tileMatrixSetURI")
    links: list[Link]


class TileSetList(BaseModel):
    """The tilesets of a collection."""

    tilesets: list[TileSetSummary]
    links: list[Link]
