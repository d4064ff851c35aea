"""``layers sync``: manifests → ``catalogue.category``/``catalogue.layer``, then data through the ingest engine.

The metadata step is one transaction with batched upserts; a layer row is rewritten only when its
manifest checksum changed, so a second run reports every layer unchanged. The data step loads and
publishes a new version of each layer whose published ``checksum`` differs from its source checksum
(the source file's sha256 with the manifest's selection, or a hash of generator, params, seed and count).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from gis_platform.audit import service as audit
from gis_platform.catalogue import queries
from gis_platform.catalogue.manifest import (
    LAYERS_DIR,
    AttributeType,
    Category,
    FileSource,
    LayerSet,
    Manifest,
    file_sha256,
)
from gis_platform.catalogue.service import search_text_of

if TYPE_CHECKING:
    import geopandas as gpd

logger = logging.getLogger(__name__)

SOURCES_ROOT = LAYERS_DIR / "sources"
DEFAULT_AUTHOR = "layers-sync"
INGEST_MODULE = "gis_platform.ingest.service"


class IngestUnavailable(RuntimeError):
    """The ingest engine (``gis_platform.ingest.service``) is not installed yet."""


@dataclass
class LayerResult:
    """What sync did to one layer: its metadata status and its data status."""

    slug: str
    metadata: str
    data: str = "not requested"
    version: int | None = None
    feature_count: int | None = None
    error: str | None = None


@dataclass
class SyncReport:
    """The outcome of one sync run."""

    categories: dict[str, int]
    layers: list[LayerResult]
    orphaned: list[str] = field(default_factory=list)
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        """Layers per metadata status (created, updated, unchanged, conflict)."""
        return dict(Counter(r.metadata for r in self.layers))

    @property
    def failed(self) -> list[LayerResult]:
        """Layers whose data step failed."""
        return [r for r in self.layers if r.error]


def search_text(manifest: Manifest, category: Category | None) -> str:
    """Folded (diacritic-free, lower-case) titles, keywords, agency and category titles."""
    titles = [category.title_vi, category.title_en] if category else []
    return search_text_of(manifest.title_vi, manifest.title_en, manifest.keywords, manifest.agency, titles)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def layer_row(manifest: Manifest, categories: dict[str, Category]) -> dict[str, Any]:
    """The ``catalogue.layer`` row of a manifest."""
    m = manifest
    return {
        "slug": m.slug, "title_vi": m.title_vi, "title_en": m.title_en, "description_vi": m.description_vi,
        "description_en": m.description_en, "category": m.category, "agency": m.agency, "licence": m.licence,
        "attribution": m.attribution, "keywords": m.keywords, "update_frequency": m.update_frequency.value,
        "geometry_type": m.geometry_type.value, "visibility": m.visibility.value, "synthetic": m.synthetic,
        "style": _json(m.style.model_dump(mode="json", exclude_none=True)) if m.style else None,
        "tile_settings": _json(m.tiles.model_dump(mode="json", exclude_none=True)),
        "attribute_schema": _json([a.model_dump(mode="json", exclude_none=True) for a in m.attributes]),
        "source": _json({**m.source.model_dump(mode="json", by_alias=True, exclude_none=True), "large": m.large}),
        "manifest_checksum": m.checksum(categories),
        "search_text": search_text(m, categories.get(m.category)),
    }  # fmt: skip


def select_manifests(layer_set: LayerSet, only: list[str] | None) -> list[Manifest]:
    """The manifests named in ``only`` (all when empty); unknown slugs raise :class:`KeyError`."""
    if not only:
        return list(layer_set.manifests)
    by_slug = {m.slug: m for m in layer_set.manifests}
    if missing := sorted(set(only) - by_slug.keys()):
        raise KeyError(f"no manifest for {', '.join(missing)}")
    return [by_slug[s] for s in dict.fromkeys(only)]


def _classify(manifest: Manifest, checksum: str, state: dict[str, Any] | None) -> str:
    if state is None:
        return "created"
    if state["managed_by"] != "manifest":
        return "conflict"
    return "unchanged" if state["manifest_checksum"] == checksum else "updated"


def _end_transaction(conn: psycopg.Connection[Any], *, commit: bool) -> None:
    if conn.autocommit:
        return
    if commit:
        conn.commit()
    else:
        conn.rollback()


@contextmanager
def _autocommit(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Run the block in autocommit mode, as the ingest engine needs (each of its steps commits)."""
    if conn.autocommit:
        yield
        return
    conn.commit()
    conn.autocommit = True
    try:
        yield
    finally:
        conn.autocommit = False


def sync_metadata(
    conn: psycopg.Connection[Any],
    layer_set: LayerSet,
    *,
    only: list[str] | None = None,
    dry_run: bool = False,
) -> SyncReport:
    """Upsert categories and layer metadata (one transaction); report each layer's status."""
    manifests = select_manifests(layer_set, only)
    categories = layer_set.category_map
    rows = [layer_row(m, categories) for m in manifests]
    state = queries.select_layer_state(conn)
    results = [
        LayerResult(r["slug"], _classify(m, r["manifest_checksum"], state.get(m.slug)))
        for m, r in zip(manifests, rows, strict=True)
    ]
    known = {m.slug for m in layer_set.manifests}
    orphaned = sorted(s for s, row in state.items() if row["managed_by"] == "manifest" and s not in known)
    cat_rows = [{**c.model_dump(), "sort_order": i} for i, c in enumerate(layer_set.categories)]
    if dry_run:
        cat_counts = {"checked": len(cat_rows)}
        _end_transaction(conn, commit=False)
    else:
        changed = {r.slug for r in results if r.metadata in ("created", "updated")}
        with conn.transaction():  # a savepoint when a transaction is already open: committed below
            cat_counts = queries.upsert_categories(conn, cat_rows)
            queries.upsert_layers(conn, [r for r in rows if r["slug"] in changed])
            for result in results:
                if result.slug in changed:  # audited; every worker re-reads (visibility may have changed)
                    action = "layer.create" if result.metadata == "created" else "layer.update"
                    audit.record(conn, actor=audit.cli_actor(), action=action, target=result.slug,
                                 details={"source": "manifest"})  # fmt: skip
                    queries.notify_changed(conn, result.slug)
        _end_transaction(conn, commit=True)
    logger.info("layer metadata: %s", dict(Counter(r.metadata for r in results)))
    return SyncReport(categories=cat_counts, layers=results, orphaned=orphaned, dry_run=dry_run)


# --- data -----------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _cached_sha256(path: Path, mtime_ns: int, size: int) -> str:
    return file_sha256(path)


def source_checksum(manifest: Manifest, sources_root: Path = SOURCES_ROOT) -> str:
    """Checksum of what a layer's data is built from (compared with the published version's)."""
    src = manifest.source
    if not isinstance(src, FileSource):
        from gis_platform.catalogue.generators import generator_checksum

        return generator_checksum(src, sources_root)
    path = sources_root / src.file
    selection = {
        "file_sha256": _cached_sha256(path, path.stat().st_mtime_ns, path.stat().st_size),
        "layer": src.layer,
        "where": src.where,
        "columns": [[a.source or a.name, a.name, a.type.value] for a in manifest.attributes],
        "geometry_type": manifest.geometry_type.value,
    }
    return hashlib.sha256(_json(selection).encode()).hexdigest()


def _conform_geometry(frame: gpd.GeoDataFrame, geometry_type: str) -> gpd.GeoDataFrame:
    """Keep the manifest's geometry family; polygons become inner points in point layers; promote to Multi."""
    import shapely

    geoms = frame.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)  # 0 point, 1 line, 3 polygon, 4-6 multi
    family = geometry_type.removeprefix("Multi")
    if family == "Point":
        polygonal = np.isin(kinds, (3, 6))
        geoms = np.where(polygonal, shapely.point_on_surface(geoms), geoms)
        kinds = shapely.get_type_id(geoms)
    wanted = {"Point": (0, 4), "LineString": (1, 5), "Polygon": (3, 6)}[family]
    keep = np.isin(kinds, wanted)
    frame = frame.loc[keep].copy()
    geoms = geoms[keep]
    if geometry_type.startswith("Multi"):
        single = shapely.get_type_id(geoms) == wanted[0]
        maker = {"Point": shapely.multipoints, "LineString": shapely.multilinestrings,
                 "Polygon": shapely.multipolygons}[family]  # fmt: skip
        geoms = np.array([maker([g]) if s else g for g, s in zip(geoms, single, strict=True)], dtype=object)
    return frame.set_geometry(geoms, crs=frame.crs)


def _cast(frame: gpd.GeoDataFrame, manifest: Manifest) -> gpd.GeoDataFrame:
    import pandas as pd  # type: ignore[import-untyped]

    for attr in manifest.attributes:
        col = frame[attr.name]
        if attr.type is AttributeType.integer:
            frame[attr.name] = pd.to_numeric(col, errors="coerce").astype("Int64")
        elif attr.type is AttributeType.double:
            frame[attr.name] = pd.to_numeric(col, errors="coerce").astype("float64")
        elif attr.type is AttributeType.date:
            frame[attr.name] = pd.to_datetime(col, errors="coerce").dt.date
        elif attr.type is AttributeType.boolean:
            frame[attr.name] = col.astype("boolean")
        else:
            frame[attr.name] = col.astype(object).where(col.notna(), None)
    return frame


def source_frame(manifest: Manifest, sources_root: Path = SOURCES_ROOT) -> gpd.GeoDataFrame:
    """Build a layer's features: run its generator, or read, filter and shape its source file."""
    src = manifest.source
    if not isinstance(src, FileSource):
        from gis_platform.catalogue.generators import generate

        frame = generate(src, sources_root)
        return frame[[*(a.name for a in manifest.attributes), frame.geometry.name]]
    import pyogrio

    frame = pyogrio.read_dataframe(sources_root / src.file, layer=src.layer)
    for column, allowed in (src.where or {}).items():
        frame = frame[frame[column].astype(str).isin(allowed)]
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    frame = _conform_geometry(frame, manifest.geometry_type.value)
    mapping = {a.source or a.name: a.name for a in manifest.attributes}
    frame = frame[[*mapping, frame.geometry.name]].rename(columns=mapping).reset_index(drop=True)
    return _cast(frame, manifest)


def _ingest() -> Any:
    try:
        return importlib.import_module(INGEST_MODULE)
    except ImportError as exc:
        raise IngestUnavailable(
            f"{INGEST_MODULE} is not available yet, so layer data cannot be loaded; "
            "run `gis-platform layers sync --metadata-only` for now"
        ) from exc


def sync_data(
    conn: psycopg.Connection[Any],
    report: SyncReport,
    manifests: list[Manifest],
    *,
    include_large: bool = False,
    sources_root: Path = SOURCES_ROOT,
    author: str = DEFAULT_AUTHOR,
) -> None:
    """Load and publish a new version of every layer whose source changed (updates ``report``)."""
    state = queries.select_layer_state(conn)
    results = {r.slug: r for r in report.layers}
    for manifest in manifests:
        result = results[manifest.slug]
        if result.metadata == "conflict":
            result.data = "skipped (managed by api)"
            continue
        if manifest.large and not include_large:
            result.data = "skipped (large; use --large)"
            continue
        checksum = source_checksum(manifest, sources_root)
        published = state.get(manifest.slug) or {}
        if published.get("data_checksum") == checksum:
            result.data, result.version = "up to date", published.get("current_version")
            continue
        if report.dry_run:
            result.data = "would load"
            continue
        _load(conn, manifest, result, checksum, sources_root, author)


def _load(
    conn: psycopg.Connection[Any], manifest: Manifest, result: LayerResult, checksum: str,
    sources_root: Path, author: str,
) -> None:  # fmt: skip
    ingest = _ingest()
    try:
        frame = source_frame(manifest, sources_root)
        with _autocommit(conn):
            info = ingest.import_frame(
                conn, manifest.slug, frame, author=author, publish=True, source_checksum=checksum
            )
    except Exception as exc:  # one failing layer must not stop the others
        logger.error("loading %s failed: %s", manifest.slug, exc)
        result.data, result.error = "failed", str(exc)
        return
    result.data, result.version, result.feature_count = "loaded", info.version, info.feature_count
    logger.info("loaded %s: version %s, %s features", manifest.slug, info.version, info.feature_count)


def sync(
    conn: psycopg.Connection[Any],
    layer_set: LayerSet,
    *,
    only: list[str] | None = None,
    dry_run: bool = False,
    metadata_only: bool = False,
    include_large: bool = False,
    sources_root: Path = SOURCES_ROOT,
    author: str = DEFAULT_AUTHOR,
) -> SyncReport:
    """Sync metadata, then (unless ``metadata_only``) data; large layers only with ``include_large``."""
    report = sync_metadata(conn, layer_set, only=only, dry_run=dry_run)
    if not metadata_only:
        manifests = select_manifests(layer_set, only)
        sync_data(
            conn, report, manifests, include_large=include_large, sources_root=sources_root, author=author
        )
    return report
