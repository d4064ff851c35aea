"""Typed parameters of the synthetic-data generators, as written under ``source:`` in a manifest.

Each generator has its own strict model, so a misspelt parameter fails validation with the file and
field named. Attribute recipes (:class:`AttrSpec`) say how one column is drawn; name and text
templates use the fields in :data:`TEMPLATE_FIELDS` (rendered by :mod:`gis_platform.catalogue.names`)
and any attribute drawn before them.
"""

from __future__ import annotations

import string
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

ATTRIBUTE_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


#: Fields a template may use besides the layer's own attributes (see gis_platform.catalogue.names).
TEMPLATE_FIELDS = frozenset(
    ("person", "fullname", "company", "place", "flower", "street", "letter", "year", "num", "ward",
     "ward_name", "ward_code", "hamlet", "n", "seq")
)  # fmt: skip


def template_fields(value: str) -> list[str]:
    """Return the field names a ``str.format`` template uses."""
    return [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]


def _check_syntax(value: str) -> str:
    try:
        fields = template_fields(value)
    except ValueError as exc:
        raise ValueError(f"bad template {value!r}: {exc}") from exc
    if any(not f.isidentifier() for f in fields):
        raise ValueError(f"bad template {value!r}: fields must be names such as {{person}}")
    return value


def check_templates(name: str | None, attributes: dict[str, AttrSpec]) -> None:
    """Check that templates use known fields: name may use any attribute, a text attribute earlier ones."""
    known = set(TEMPLATE_FIELDS)
    for key, spec in attributes.items():
        if spec.text and (unknown := sorted(set(template_fields(spec.text)) - known)):
            raise ValueError(f"attributes.{key}.text uses unknown fields {unknown}")
        known.add(key)
    if name and (unknown := sorted(set(template_fields(name)) - known)):
        raise ValueError(f"name uses unknown fields {unknown}; use {sorted(known)}")


Template = Annotated[str, AfterValidator(_check_syntax)]


class AttrSpec(_Strict):
    """Recipe of one synthetic attribute; exactly one of int, float, choice, bool, date, text."""

    int_: tuple[int, int] | None = Field(default=None, alias="int")
    float_: tuple[float, float] | None = Field(default=None, alias="float")
    choice: list[int] | list[float] | list[str] | None = Field(default=None, min_length=1)
    bool_: float | None = Field(default=None, alias="bool", ge=0, le=1, description="Probability of true.")
    date_: tuple[date, date] | None = Field(default=None, alias="date")
    text: Template | None = Field(default=None, description="Template, see gis_platform.catalogue.names.")
    weights: list[float] | None = None
    digits: int = Field(default=1, ge=0, le=6)
    rural: tuple[float, float] | None = Field(default=None, description="Range used in communes (xã).")
    per_km2: bool = Field(default=False, description="Multiply by the ward area (ward_areas only).")

    @model_validator(mode="after")
    def _one_kind(self) -> AttrSpec:
        kinds = [
            k for k in ("int_", "float_", "choice", "bool_", "date_", "text") if getattr(self, k) is not None
        ]
        if len(kinds) != 1:
            raise ValueError("give exactly one of int, float, choice, bool, date, text")
        if self.weights is not None and (self.choice is None or len(self.weights) != len(self.choice)):
            raise ValueError("weights need a choice list of the same length")
        for rng in (self.int_, self.float_, self.rural, self.date_):
            if rng is not None and rng[0] > rng[1]:  # type: ignore[operator]
                raise ValueError("a range must be [low, high]")
        return self

    @property
    def type(self) -> str:
        """The attribute type the recipe produces (text, integer, double, boolean or date)."""
        choice = self.choice or []
        if self.int_ is not None or (choice and all(isinstance(v, int) for v in choice)):
            return "integer"
        if self.float_ is not None or (choice and all(isinstance(v, float) for v in choice)):
            return "double"
        if self.bool_ is not None:
            return "boolean"
        return "date" if self.date_ is not None else "text"


UnitType = Literal["Phường", "Xã", "Đặc khu"]
Weight = Literal["urban", "area", "rural", "each"]
Range = tuple[float, float]


class _Params(_Strict):
    name: Template | None = Field(default=None, description="Template of the name attribute.")
    weight: Weight = Field(default="urban", description="How features are shared among wards.")
    unit_types: list[UnitType] | None = Field(default=None, description="Only wards of these types.")
    attributes: dict[Annotated[str, Field(pattern=ATTRIBUTE_PATTERN)], AttrSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _templates(self) -> _Params:
        check_templates(self.name, self.attributes)
        return self


class PointParams(_Params):
    """Points inside ward polygons."""


class BoundaryPointParams(_Params):
    """Points on ward boundaries (markers)."""


class LineParams(_Params):
    """Polylines starting inside wards: random walks or grid-aligned streets."""

    vertices: tuple[int, int] = (2, 6)
    step_m: Range = (50.0, 300.0)
    pattern: Literal["walk", "grid"] = "walk"


class PolygonParams(_Params):
    """Rectangles or rounded blobs inside wards."""

    size_m: Range = (50.0, 300.0)
    aspect: Range = (0.5, 1.0)
    shape: Literal["rect", "round"] = "rect"


class WardAreaParams(_Strict):
    """The ward polygons themselves, with synthetic per-ward attributes."""

    unit_types: list[UnitType] | None = None
    attributes: dict[Annotated[str, Field(pattern=ATTRIBUTE_PATTERN)], AttrSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _templates(self) -> WardAreaParams:
        check_templates(getattr(self, "name", None), self.attributes)
        return self


class GridParams(WardAreaParams):
    """Square cells whose centres lie inside wards."""

    cell_m: float = Field(ge=100, le=20_000)
    name: Template | None = None


class RouteParams(_Strict):
    """Routes walking across the wards (bus lines, canals, pipes)."""

    name: Template
    length_km: Range = (8.0, 25.0)
    step_m: float = Field(default=400.0, ge=50, le=5000)
    turn: float = Field(default=0.3, ge=0, le=3.2, description="Standard deviation of turns, radians.")
    unit_types: list[UnitType] | None = None
    attributes: dict[Annotated[str, Field(pattern=ATTRIBUTE_PATTERN)], AttrSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _templates(self) -> RouteParams:
        check_templates(self.name, self.attributes)
        return self


class StopParams(_Strict):
    """Stops along the routes of another generator run (same routes, seed and count)."""

    name: Template
    routes: RouteParams
    routes_count: int = Field(ge=1, le=10_000)
    routes_seed: int = Field(ge=0)
    spacing_m: float = Field(default=450.0, ge=50, le=10_000)
    attributes: dict[Annotated[str, Field(pattern=ATTRIBUTE_PATTERN)], AttrSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _templates(self) -> StopParams:
        check_templates(self.name, self.attributes)
        return self


class _Generated(_Strict):
    count: int = Field(ge=1, le=5_000_000, description="Features (at most, for ward_areas/grid/stops).")
    seed: int = Field(ge=0, le=2**32 - 1)


class PointsSource(_Generated):
    """Generator ``points``."""

    generator: Literal["points"]
    params: PointParams


class BoundaryPointsSource(_Generated):
    """Generator ``boundary_points``."""

    generator: Literal["boundary_points"]
    params: BoundaryPointParams


class LinesSource(_Generated):
    """Generator ``lines``."""

    generator: Literal["lines"]
    params: LineParams


class PolygonsSource(_Generated):
    """Generator ``polygons``."""

    generator: Literal["polygons"]
    params: PolygonParams


class WardAreasSource(_Generated):
    """Generator ``ward_areas``."""

    generator: Literal["ward_areas"]
    params: WardAreaParams


class GridSource(_Generated):
    """Generator ``grid``."""

    generator: Literal["grid"]
    params: GridParams


class RoutesSource(_Generated):
    """Generator ``routes``."""

    generator: Literal["routes"]
    params: RouteParams


class StopsSource(_Generated):
    """Generator ``route_stops``."""

    generator: Literal["route_stops"]
    params: StopParams


GeneratorSource = Annotated[
    PointsSource | BoundaryPointsSource | LinesSource | PolygonsSource | WardAreasSource | GridSource
    | RoutesSource | StopsSource,
    Field(discriminator="generator"),
]  # fmt: skip


#: The geometry family each generator makes.
GEOMETRY_FAMILY = {"points": "Point", "boundary_points": "Point", "route_stops": "Point", "lines": "LineString",
                    "routes": "LineString", "polygons": "Polygon", "grid": "Polygon", "ward_areas": "Polygon"}  # fmt: skip


def generated_attributes(source: GeneratorSource) -> list[tuple[str, str]]:
    """Columns (name, type) a generator source produces, in order."""
    params = source.params
    cols: list[tuple[str, str]] = []
    if getattr(params, "name", None):
        cols.append(("name", "text"))
    cols += [("ward_code", "text"), ("ward_name", "text")]
    if isinstance(source, RoutesSource):
        cols.append(("length_km", "double"))
    if isinstance(source, StopsSource):
        cols += [("route_name", "text"), ("stop_order", "integer")]
    return cols + [(k, spec.type) for k, spec in params.attributes.items()]
