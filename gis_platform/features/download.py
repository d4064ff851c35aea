"""Whole-layer downloads as GeoPackage or zipped Shapefile.

Rows come from the same server-side cursor as the items (``ST_AsBinary`` geometry), become Arrow
record batches and are written by pyogrio (GDAL) in a worker thread that pulls batch after batch
from the event loop, so neither the layer nor the file is ever held in memory. The file is written
to a private temporary directory, streamed, and deleted.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa
import pyogrio

from gis_platform.features import service
from gis_platform.features.models import Collection, ItemsQuery

CHUNK_BYTES = 1 << 20
_ARROW_TYPES = {
    "text": pa.string(), "integer": pa.int64(), "double": pa.float64(), "boolean": pa.bool_(),
    "date": pa.date32(), "datetime": pa.timestamp("us", tz="UTC"),
}  # fmt: skip
DRIVERS = {"gpkg": ("GPKG", ".gpkg"), "shp": ("ESRI Shapefile", ".shp")}
# GeoPackage 1.2 opens in every GDAL still in use (3.6 warns on 1.4); Shapefile text is UTF-8 (.cpg).
_OPTIONS: dict[str, dict[str, Any]] = {
    "gpkg": {"dataset_options": {"VERSION": "1.2"}},
    "shp": {"layer_options": {"ENCODING": "UTF-8"}},
}


def arrow_schema(collection: Collection) -> pa.Schema:
    """The Arrow schema of a layer's rows: fid, attributes, WKB geometry."""
    fields = [pa.field("fid", pa.int64())]
    fields.extend(pa.field(f.name, _ARROW_TYPES[f.type]) for f in collection.fields)
    fields.append(pa.field("geometry", pa.binary()))
    return pa.schema(fields)


def _record_batch(rows: list[Any], schema: pa.Schema) -> pa.RecordBatch:
    columns = [pa.array([r[i] for r in rows], type=field.type) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


async def write_layer(conn: asyncpg.Connection, collection: Collection, fmt: str, directory: Path) -> Path:
    """Write the whole layer as ``fmt`` (gpkg or shp) into ``directory``; return the file to send."""
    driver, suffix = DRIVERS[fmt]
    schema = arrow_schema(collection)
    rows = await service.open_rows(conn, collection, ItemsQuery(), "wkb", page=False)
    batches = rows.batches()
    loop = asyncio.get_running_loop()

    async def next_batch() -> list[Any] | None:
        return await anext(batches, None)

    def record_batches() -> Iterator[pa.RecordBatch]:
        while (batch := asyncio.run_coroutine_threadsafe(next_batch(), loop).result()) is not None:
            yield _record_batch(batch, schema)

    target = directory / f"{collection.slug}{suffix}"
    geometry_type = collection.geometry_type if collection.geometry_type != "Geometry" else "Unknown"

    def write() -> None:
        reader = pa.RecordBatchReader.from_batches(schema, record_batches())
        pyogrio.write_arrow(
            reader, str(target), layer=collection.slug, driver=driver, geometry_name="geometry",
            geometry_type=geometry_type, crs="EPSG:4326", **_OPTIONS[fmt],
        )  # fmt: skip

    try:
        await asyncio.to_thread(write)
    finally:
        await batches.aclose()
    if fmt != "shp":
        return target
    archive = directory / f"{collection.slug}.zip"
    await asyncio.to_thread(_zip_shapefile, directory, collection.slug, archive)
    return archive


def _zip_shapefile(directory: Path, stem: str, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for part in sorted(directory.glob(f"{stem}.*")):
            if part != archive:
                out.write(part, arcname=part.name)


def remove(directory: Path) -> None:
    """Delete a download's directory."""
    shutil.rmtree(directory, ignore_errors=True)


def temp_directory() -> Path:
    """A private directory for one download."""
    return Path(tempfile.mkdtemp(prefix="gis-download-"))


async def stream_file(path: Path, directory: Path) -> AsyncIterator[bytes]:
    """Stream a file in chunks, then delete its directory (also when the client goes away)."""
    try:
        with path.open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
    finally:
        remove(directory)
