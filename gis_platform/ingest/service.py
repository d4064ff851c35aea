"""Ingest entry points: load a GeoDataFrame or a file into a new layer version, and publish it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import psycopg

from gis_platform.audit import service as audit
from gis_platform.catalogue.service import search_text_of
from gis_platform.errors import NotFound
from gis_platform.ingest import queries
from gis_platform.ingest.archive import Staging, staging_root
from gis_platform.ingest.errors import InvalidField, LayerExists, VersionConflict
from gis_platform.ingest.types import IngestOptions, IngestProgress, ProgressFn, VersionInfo
from gis_platform.ingest.versions import publish_version
from gis_platform.settings import IngestSettings, get_settings

if TYPE_CHECKING:
    import geopandas as gpd

# The loaders (geopandas, pandas, Arrow, pyogrio and GDAL: ~60 MB a process) are imported by the
# functions that load, so that the web workers importing this module for its API functions stay lean.

logger = logging.getLogger(__name__)

BATCH_ROWS = 100_000


def import_frame(
    conn: psycopg.Connection[Any],
    slug: str,
    frame: gpd.GeoDataFrame,
    *,
    author: str,
    publish: bool,
    source_checksum: str | None = None,
    source_format: str = "generated",
    source_filename: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> VersionInfo:
    """Load a GeoDataFrame (any CRS; reprojected to EPSG:4326) as the layer's next version."""
    import numpy as np
    import pyarrow as pa

    from gis_platform.ingest.columns import columns_for
    from gis_platform.ingest.loader import VersionWriter

    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    attributes = pa.Table.from_pandas(frame.drop(columns=frame.geometry.name), preserve_index=False)
    geometries = np.asarray(frame.geometry.array, dtype=object)
    columns = columns_for(attributes.schema)
    with VersionWriter(
        conn, slug, columns, author=author, source_filename=source_filename, source_format=source_format,
        source_crs="EPSG:4326", checksum=source_checksum, progress=progress,
    ) as writer:  # fmt: skip
        for start in range(0, len(frame), BATCH_ROWS):
            writer.write(attributes.slice(start, BATCH_ROWS), geometries[start : start + BATCH_ROWS])
        info = writer.finish()
    if publish:
        info = publish_version(conn, slug, info.version, actor=author)
    logger.info("%s v%s: %s features (%s)", slug, info.version, info.feature_count, info.status)
    return info


def import_path(
    conn: psycopg.Connection[Any],
    slug: str,
    path: Path,
    *,
    layer_name: str | None = None,
    author: str,
    publish: bool,
    crs: str | None = None,
    encoding: str | None = None,
    progress: ProgressFn | None = None,
    settings: IngestSettings | None = None,
    source_filename: str | None = None,
) -> VersionInfo:
    """Load a file (any supported format) as the layer's next version; publish it if asked.

    The file is staged in a private temp dir that is removed whatever happens; a bad file raises an
    :class:`~gis_platform.ingest.errors.IngestError` naming the file, feature, row or column, and
    leaves the published version untouched.
    """
    from gis_platform.ingest.pipeline import load, prepare

    settings = settings or get_settings().ingest
    options = IngestOptions(layer_name=layer_name, crs=crs, encoding=encoding)
    name = source_filename or Path(path).name
    with Staging(staging_root(settings)) as staging:
        if progress:
            progress(IngestProgress("validating"))
        prepared = prepare(
            conn, slug, Path(path), name=name, workdir=staging.path, options=options, settings=settings
        )
        return load(conn, slug, prepared, author=author, publish=publish, progress=progress)


async def create_layer(conn: Any, values: dict[str, Any], *, actor: str = "api") -> dict[str, Any]:
    """Create an API-managed layer from validated metadata (asyncpg), audited; its search text is folded here.

    Raises:
        InvalidField: the category does not exist (422).
        LayerExists: the slug is taken (409).
    """
    titles = await queries.fetch_category_titles(conn, values["category"])
    if titles is None:
        raise InvalidField("category", f"Unknown category {values['category']!r}.")
    search_text = search_text_of(
        values["title_vi"], values["title_en"], values["keywords"], values["agency"], titles
    )
    try:
        async with conn.transaction():
            row = await queries.insert_layer(conn, values | {"search_text": search_text})
            await audit.record_async(conn, actor=actor, action="layer.create", target=values["slug"],
                                     details={"visibility": values["visibility"]})  # fmt: skip
            return row
    except asyncpg.UniqueViolationError:
        raise LayerExists(f"A layer {values['slug']!r} exists already.", parameter="slug") from None


#: Versions whose table holds complete data (a loading version's table is still being written).
PREVIEWABLE = frozenset({"validated", "published", "superseded"})


async def preview(conn: Any, slug: str, version: int, limit: int) -> str:
    """The first ``limit`` features of a version (also one not yet published) as GeoJSON text.

    Raises:
        NotFound: no such layer or version.
        VersionConflict: the version is still loading or has failed (it has no complete table).
    """
    row = await queries.fetch_version(conn, slug, version)
    if row is None:
        raise NotFound(f"Layer {slug!r} has no version {version}.", parameter="version")
    if row["status"] not in PREVIEWABLE:
        raise VersionConflict(
            f"Version {version} of {slug!r} is {row['status']}; only a validated, published or superseded "
            "version can be previewed.",
            status_of_version=row["status"],
        )
    columns = [str(c["name"]) for c in json.loads(row["columns"] or "[]")]
    return await queries.select_preview(conn, row["table_name"], columns, limit, row["feature_count"])


__all__ = ["IngestOptions", "IngestProgress", "create_layer", "import_frame", "import_path", "preview"]
