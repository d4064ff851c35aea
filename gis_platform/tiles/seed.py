"""Seeding: fill the cache tiers with every tile of a layer in a zoom range and bounding box.

Resumable: tiles already on disk are skipped, and every file is written atomically, so a seed that
stopped half-way starts again where it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gis_platform.errors import InvalidParameter
from gis_platform.tiles.models import TileRef
from gis_platform.tiles.rules import count_tiles, tiles_in_bbox
from gis_platform.tiles.service import TileService
from gis_platform.tiles.tilejson import bounds

BBox = tuple[float, float, float, float]


def parse_zooms(text: str) -> tuple[int, int]:
    """``"0-14"`` or ``"12"`` as an inclusive zoom range."""
    low, _, high = text.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError as exc:
        raise InvalidParameter("zooms", f"Zooms {text!r} are not 'N' or 'N-M'.") from exc
    if not 0 <= first <= last <= 30:
        raise InvalidParameter("zooms", f"Zooms {text!r} are not an increasing range within 0-30.")
    return first, last


def parse_bbox(text: str) -> BBox:
    """``"minx,miny,maxx,maxy"`` in degrees."""
    try:
        minx, miny, maxx, maxy = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise InvalidParameter("bbox", f"Bounding box {text!r} is not minx,miny,maxx,maxy.") from exc
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise InvalidParameter("bbox", f"Bounding box {text!r} is not a lon/lat box.")
    return minx, miny, maxx, maxy


@dataclass(frozen=True)
class TilePlan:
    """The tiles of a layer set within zooms and a bounding box."""

    ref: TileRef
    zooms: tuple[int, ...]
    bbox: BBox

    @classmethod
    def make(cls, ref: TileRef, zooms: tuple[int, int], bbox: BBox | None = None) -> TilePlan:
        """Clip the zoom range to the layers' and default the box to their bounds."""
        first, last = max(zooms[0], ref.minzoom), min(zooms[1], ref.maxzoom)
        return cls(ref, tuple(range(first, last + 1)), bbox or bounds(ref))

    @property
    def total(self) -> int:
        """How many tiles the plan holds."""
        return sum(count_tiles(self.bbox, z) for z in self.zooms)

    def tiles(self) -> Iterator[tuple[int, int, int]]:
        """Every tile, zoom by zoom."""
        for z in self.zooms:
            yield from tiles_in_bbox(self.bbox, z)


@dataclass
class SeedReport:
    """What a seed did."""

    rendered: int = 0
    skipped: int = 0
    empty: int = 0
    bytes: int = 0
    errors: list[str] = field(default_factory=list)


async def seed(
    service: TileService,
    plan: TilePlan,
    *,
    workers: int = 4,
    progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Render (or find) every tile of ``plan`` with ``workers`` concurrent statements."""
    report = SeedReport()
    tiles = plan.tiles()
    disk = service.cache.disk

    async def worker() -> None:
        for z, x, y in tiles:  # one shared iterator: each tile goes to one worker
            if disk is not None and disk.exists((plan.ref.key, z, x, y)):
                report.skipped += 1
            else:
                try:
                    tile = await service.tile_gz(plan.ref, z, x, y)
                except Exception as exc:  # a failed tile is reported; the others go on
                    report.errors.append(f"{z}/{x}/{y}: {type(exc).__name__}: {exc}")
                else:
                    report.rendered += 1
                    report.empty += tile.empty
                    report.bytes += len(tile.data)
            if progress is not None:
                progress(1)

    await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    await service.cache.flush()
    return report
