"""PMTiles export of a layer (or composite) for static hosting, written with the ``pmtiles`` package."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from gis_platform.errors import PlatformError
from gis_platform.tiles.seed import TilePlan
from gis_platform.tiles.service import TileService
from gis_platform.tiles.tilejson import tilejson

_WINDOW = 256  # tiles fetched concurrently before they are written in tile-id order


class NothingToExport(PlatformError):
    """The plan holds no tile with features."""

    type = "nothing-to-export"
    title = "Nothing to export"
    status = 422


@dataclass
class ExportReport:
    """What an export wrote."""

    path: Path
    tiles: int
    empty: int
    bytes: int


def _e7(value: float) -> int:
    return round(value * 10_000_000)


async def export_pmtiles(
    service: TileService,
    plan: TilePlan,
    path: Path,
    *,
    workers: int = 4,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write every non-empty tile of ``plan`` (gzip MVT) into a PMTiles v3 archive at ``path``."""
    order = sorted(plan.tiles(), key=lambda t: zxy_to_tileid(*t))
    limit = asyncio.Semaphore(max(1, workers))

    async def fetch(z: int, x: int, y: int) -> bytes:
        async with limit:
            tile = await service.tile_gz(plan.ref, z, x, y)
        if progress is not None:
            progress(1)
        return tile.data

    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = empty = size = 0
    try:
        with open(tmp, "wb") as f:  # noqa: ASYNC230 - the CLI's own loop; nothing else waits on it
            writer = Writer(f)  # type: ignore[no-untyped-call]
            for start in range(0, len(order), _WINDOW):
                window = order[start : start + _WINDOW]
                blobs = await asyncio.gather(*(fetch(*t) for t in window))
                for (z, x, y), data in zip(window, blobs, strict=True):
                    if not data:
                        empty += 1
                        continue
                    writer.write_tile(zxy_to_tileid(z, x, y), data)  # type: ignore[no-untyped-call]
                    written += 1
                    size += len(data)
            if not written:
                raise NothingToExport("No tile of the layer in that range has features.")
            writer.finalize(_header(plan), _metadata(plan))  # type: ignore[no-untyped-call]
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    await service.cache.flush()
    return ExportReport(path=path, tiles=written, empty=empty, bytes=size)


def _header(plan: TilePlan) -> dict[str, Any]:
    west, south, east, north = plan.bbox
    center_zoom = min(max(plan.zooms[0], 12), plan.zooms[-1])
    return {
        "tile_type": TileType.MVT,
        "tile_compression": Compression.GZIP,
        "min_lon_e7": _e7(west),
        "min_lat_e7": _e7(south),
        "max_lon_e7": _e7(east),
        "max_lat_e7": _e7(north),
        "center_zoom": center_zoom,
        "center_lon_e7": _e7((west + east) / 2),
        "center_lat_e7": _e7((south + north) / 2),
    }


def _metadata(plan: TilePlan) -> dict[str, Any]:
    doc = tilejson(plan.ref, "")
    keep = ("name", "description", "version", "attribution", "vector_layers")
    return {k: doc[k] for k in keep} | {"minzoom": plan.zooms[0], "maxzoom": plan.zooms[-1], "format": "pbf"}
