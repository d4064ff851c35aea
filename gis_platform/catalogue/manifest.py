"""Layer manifests: the strict pydantic model of ``layers/**/*.yaml``, its JSON Schema and the loader.

A manifest describes one catalogue layer: titles and descriptions in Vietnamese and English, owner
agency, licence, attribute schema, tile hints and where its data comes from: a file under
``layers/sources`` or a deterministic generator (synthetic data) with typed parameters.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gis_platform.catalogue.params import (
    ATTRIBUTE_PATTERN,
    GEOMETRY_FAMILY,
    GeneratorSource,
    generated_attributes,
)
from gis_platform.settings import REPO_ROOT

LAYERS_DIR = REPO_ROOT / "layers"
CATEGORIES_FILE = "categories.yaml"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,62}$"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class UpdateFrequency(StrEnum):
    """How often the owner agency refreshes a layer."""

    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"
    irregular = "irregular"


class GeometryType(StrEnum):
    """Geometry type of a layer's features."""

    Point = "Point"
    LineString = "LineString"
    Polygon = "Polygon"
    MultiPoint = "MultiPoint"
    MultiLineString = "MultiLineString"
    MultiPolygon = "MultiPolygon"


class Visibility(StrEnum):
    """Who may see a layer."""

    public = "public"
    internal = "internal"


class AttributeType(StrEnum):
    """Types of attribute columns."""

    text = "text"
    integer = "integer"
    double = "double"
    boolean = "boolean"
    date = "date"


class Category(_Strict):
    """One catalogue category (``layers/categories.yaml``)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")
    title_vi: str = Field(min_length=1)
    title_en: str = Field(min_length=1)


class Attribute(_Strict):
    """One attribute column of a layer."""

    name: str = Field(pattern=ATTRIBUTE_PATTERN)
    type: AttributeType
    title_vi: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    source: str | None = Field(
        default=None, description="Column in the source file when it differs from name."
    )


class Style(_Strict):
    """MapLibre paint/layout hints for the default map style."""

    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    outline_color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    opacity: float = Field(default=0.8, ge=0, le=1)
    width: float | None = Field(default=None, gt=0, le=20, description="Line width in pixels.")
    radius: float | None = Field(default=None, gt=0, le=30, description="Circle radius in pixels.")
    icon: str | None = Field(default=None, pattern=r"^[a-z0-9_-]{1,40}$")
    label: str | None = Field(default=None, description="Attribute used as the label.")


class TileSettings(_Strict):
    """Vector-tile hints: zoom range, buffer, attributes and simplification per zoom."""

    minzoom: int = Field(default=8, ge=0, le=24)
    maxzoom: int = Field(default=16, ge=0, le=24)
    buffer: int = Field(default=64, ge=0, le=512)
    attributes_by_zoom: dict[Annotated[int, Field(ge=0, le=24)], list[str]] = Field(default_factory=dict)
    simplify_by_zoom: dict[Annotated[int, Field(ge=0, le=24)], Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="Simplification tolerance in tile pixels from each zoom on."
    )
    thin_points_below_zoom: int | None = Field(default=None, ge=0, le=24)
    cluster_below_zoom: int | None = Field(default=None, ge=0, le=24)

    @model_validator(mode="after")
    def _zoom_range(self) -> TileSettings:
        if self.minzoom > self.maxzoom:
            raise ValueError("minzoom must not exceed maxzoom")
        return self


# --- sources --------------------------------------------------------------------------------------


class FileSource(_Strict):
    """Real data: a file under ``layers/sources`` and an optional layer and attribute filter."""

    file: str = Field(min_length=1, description="Path relative to layers/sources.")
    layer: str | None = Field(default=None, description="Layer of a multi-layer file (GeoPackage).")
    where: dict[str, list[str]] | None = Field(
        default=None, description="Keep features whose column value is in the list (all columns must match)."
    )

    @field_validator("file")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError("must be a relative path inside layers/sources")
        return value


def _source_kind(value: Any) -> str | None:
    data = value if isinstance(value, dict) else getattr(value, "__dict__", {})
    return "file" if "file" in data else "generator" if "generator" in data else None


Source = Annotated[
    Annotated[FileSource, Tag("file")] | Annotated[GeneratorSource, Tag("generator")],
    Discriminator(_source_kind, custom_error_type="source", custom_error_message="needs file or generator"),
]


class Manifest(_Strict):
    """One catalogue layer, as written in ``layers/<category>/<slug>.yaml``."""

    slug: str = Field(pattern=SLUG_PATTERN)
    title_vi: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    description_vi: str = Field(min_length=1)
    description_en: str = Field(min_length=1)
    category: str
    agency: str = Field(min_length=1, description="Owner agency, Vietnamese name.")
    licence: str = Field(min_length=1)
    attribution: str = Field(min_length=1)
    keywords: list[str] = Field(default_factory=list)
    update_frequency: UpdateFrequency
    geometry_type: GeometryType
    visibility: Visibility = Visibility.public
    synthetic: bool
    style: Style | None = None
    attributes: list[Attribute] = Field(default_factory=list)
    tiles: TileSettings = Field(default_factory=TileSettings)
    source: Source
    large: bool = Field(default=False, description="Generated and loaded only on request (--large).")

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get("categories")
        if known is not None and value not in known:
            raise ValueError(f"unknown category {value!r}; add it to layers/{CATEGORIES_FILE}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        # Messages start with the field they are about; the loader reports that field.
        if not isinstance(self.source, FileSource) and not self.synthetic:
            raise ValueError("synthetic: must be true when the source is a generator")
        if self.synthetic and "synthetic" not in self.description_en.lower():
            raise ValueError("description_en: a synthetic layer must say 'synthetic'")
        names = [a.name for a in self.attributes]
        if len(set(names)) != len(names):
            raise ValueError("attributes: names must be unique")
        for zoom, wanted in self.tiles.attributes_by_zoom.items():
            if unknown := sorted(set(wanted) - set(names)):
                raise ValueError(f"tiles.attributes_by_zoom.{zoom}: unknown attributes {unknown}")
        if self.style and self.style.label and self.style.label not in names:
            raise ValueError(f"style.label: {self.style.label!r} is not an attribute")
        points = self.geometry_type in (GeometryType.Point, GeometryType.MultiPoint)
        if not points and (self.tiles.thin_points_below_zoom or self.tiles.cluster_below_zoom):
            raise ValueError("tiles: thin_points_below_zoom/cluster_below_zoom apply to point layers only")
        if not isinstance(self.source, FileSource):
            self._check_generated(self.source)
        return self

    def _check_generated(self, source: GeneratorSource) -> None:
        expected = set(generated_attributes(source))
        declared = {(a.name, a.type.value) for a in self.attributes}
        if declared != expected:
            missing, extra = sorted(expected - declared), sorted(declared - expected)
            raise ValueError(
                f"attributes: must match what the generator makes; missing {missing}, extra {extra}"
            )
        family = GEOMETRY_FAMILY[source.generator]
        if self.geometry_type.value.removeprefix("Multi") != family:
            raise ValueError(f"geometry_type: generator {source.generator!r} makes {family} geometries")

    def checksum(self, categories: dict[str, Category] | None = None) -> str:
        """Return a sha256 of the manifest's content (and its category's titles, which feed search)."""
        body: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        if categories and self.category in categories:
            body["_category"] = categories[self.category].model_dump(mode="json")
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def manifest_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of a layer manifest."""
    schema = Manifest.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://ward-gis.example/schemas/layer-manifest.json"
    return schema


# --- loading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One validation problem: which file, which field, what is wrong."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


class ManifestError(Exception):
    """Raised when manifests do not validate; ``problems`` names every file and field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class LayerSet:
    """Every category and manifest under one ``layers/`` directory."""

    root: Path
    categories: list[Category]
    manifests: list[Manifest]

    @property
    def category_map(self) -> dict[str, Category]:
        """Categories by id."""
        return {c.id: c for c in self.categories}


def file_sha256(path: Path) -> str:
    """Return the sha256 hex digest of a file (a source's checksum)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader)  # noqa: S506 - a safe loader (C or pure Python)


_FIELD_MESSAGE = re.compile(r"^Value error, ([a-z_][a-z0-9_.]*): (.*)$", re.DOTALL)


def _problems(file: str, exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        field, message = ".".join(str(p) for p in err["loc"]), err["msg"]
        if not field and (match := _FIELD_MESSAGE.match(message)):
            field, message = match[1], match[2]
        problems.append(Problem(file, field or "(manifest)", message))
    return problems


def load_categories(root: Path = LAYERS_DIR) -> list[Category]:
    """Read ``layers/categories.yaml`` (a list of categories, in display order)."""
    path = root / CATEGORIES_FILE
    data = _read_yaml(path)
    if not isinstance(data, list):
        raise ManifestError([Problem(CATEGORIES_FILE, "(file)", "must be a list of categories")])
    try:
        categories = [Category.model_validate(item) for item in data]
    except ValidationError as exc:
        raise ManifestError(_problems(CATEGORIES_FILE, exc)) from exc
    return categories


def manifest_files(root: Path = LAYERS_DIR) -> list[Path]:
    """Every manifest file under ``root`` (not categories.yaml, sources/ or files starting with _)."""
    return sorted(
        p for p in root.rglob("*.yaml")
        if p.name != CATEGORIES_FILE and "sources" not in p.relative_to(root).parts[:1]
        and not p.name.startswith("_")
    )  # fmt: skip


def _check_file(manifest: Manifest, rel: str, sources_dir: Path) -> list[Problem]:
    assert isinstance(manifest.source, FileSource)  # noqa: S101 - checked by the caller
    path = sources_dir / manifest.source.file
    if not path.is_file():
        return [Problem(rel, "source.file", f"{path} does not exist")]
    import pyogrio  # heavy: only when sources are checked

    try:
        info = pyogrio.read_info(path, layer=manifest.source.layer)
    except Exception as exc:  # any GDAL error is reported, not raised
        return [Problem(rel, "source.layer", f"cannot read {path.name}: {exc}")]
    columns = set(info["fields"])
    wanted = [(f"source.where.{c}", c) for c in manifest.source.where or {}]
    wanted += [(f"attributes.{a.name}", a.source or a.name) for a in manifest.attributes]
    return [
        Problem(rel, loc, f"column {col!r} is not in {path.name}")
        for loc, col in wanted
        if col not in columns
    ]


def load_layer_set(
    root: Path = LAYERS_DIR, *, sources_dir: Path | None = None, check_sources: bool = False
) -> LayerSet:
    """Load and validate every manifest; raise :class:`ManifestError` listing all problems."""
    categories = load_categories(root)
    context = {"categories": {c.id for c in categories}}
    sources = sources_dir or root / "sources"
    problems: list[Problem] = []
    manifests: list[Manifest] = []
    seen: dict[str, str] = {}
    for path in manifest_files(root):
        rel = str(path.relative_to(root.parent)) if root.parent in path.parents else str(path)
        try:
            manifest = Manifest.model_validate(_read_yaml(path), context=context)
        except ValidationError as exc:
            problems += _problems(rel, exc)
            continue
        except yaml.YAMLError as exc:
            problems.append(Problem(rel, "(yaml)", str(exc).replace("\n", " ")))
            continue
        if path.stem != manifest.slug:
            problems.append(Problem(rel, "slug", f"must match the file name ({path.stem!r})"))
        if manifest.slug in seen:
            problems.append(Problem(rel, "slug", f"{manifest.slug!r} is also used by {seen[manifest.slug]}"))
        seen[manifest.slug] = rel
        if check_sources and isinstance(manifest.source, FileSource):
            problems += _check_file(manifest, rel, sources)
        manifests.append(manifest)
    if problems:
        raise ManifestError(problems)
    return LayerSet(root=root, categories=categories, manifests=manifests)
