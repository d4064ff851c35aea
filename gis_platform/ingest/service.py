"""Ingest entry points: load a GeoDataFrame or a file into a new layer version, and publish it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import psycopg
import pyarrow as pa

from gis_platform.ingest.columns import columns_for
from gis_platform.ingest.loader import VersionWriter, publish_version
from gis_platform.ingest.types import VersionInfo

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
