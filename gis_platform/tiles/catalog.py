"""The tile server's view of the catalogue: layers and their servable versions, kept in memory.

Refreshed at once when a version is published or a layer changes (the worker's
:class:`~gis_platform.events.EventBus`, its one LISTEN connection; again after it reconnects) and every
``catalogue_ttl_s`` as a fallback; a lookup of an unknown layer or version re-reads the catalogue (at
most once a second) before answering 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson

from gis_platform.events import CHANGED, PUBLISHED, EventBus
from gis_platform.settings import TileSettings
from gis_platform.tiles import queries
from gis_platform.tiles.models import Column, LayerVersion, Pyramid, TileLayer
from gis_platform.tiles.rules import parse_rules

logger = logging.getLogger(__name__)

ConnectionFactory = Callable[[], Any]  # an async context manager yielding an asyncpg connection
_MISS_REFRESH_S = 1.0


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text else None


def _token(row: asyncpg.Record) -> str:
    # the version row's id and creation time: a rebuilt database never reuses the cache of an old one
    raw = f"{row['version_id']}:{row['created_us']}:{row['table_name']}".encode()
    return hashlib.blake2b(raw, digest_size=5).hexdigest()


def _pyramid(row: asyncpg.Record) -> Pyramid | None:
    """The version's pyramid when its table exists and its description is well formed."""
    spec = _json(row["pyramid"]) if "pyramid" in row.keys() else None
    if not isinstance(spec, dict):
        return None
    try:
        return Pyramid(
            table_name=f"{row['table_name']}{queries.PYRAMID_SUFFIX}",
            grid_cells=int(spec["grid_cells"]),
            min_zoom=int(spec["min_zoom"]),
            max_zoom=int(spec["max_zoom"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def layers_from_rows(rows: list[asyncpg.Record], defaults: TileSettings) -> dict[str, TileLayer]:
    """Build the layer map from :func:`queries.select_catalogue` rows."""
    layers: dict[str, TileLayer] = {}
    for row in rows:
        slug = row["slug"]
        layer = layers.get(slug)
        if layer is None:
            layer = TileLayer(
                id=int(row["id"]),
                slug=slug,
                title=row["title_en"] or row["title_vi"] or slug,
                description=row["description_en"] or "",
                attribution=row["attribution"] or "",
                licence=row["licence"] or "",
                geometry_type=row["geometry_type"],
                visibility=row["visibility"],
                current_version=row["current_version"],
                style=_json(row["style"]),
                rules=parse_rules(_json(row["tile_settings"]), defaults),
            )
            layers[slug] = layer
        if row["version"] is None:
            continue
        columns = tuple(
            Column(
                name=str(c["name"]),
                original=str(c.get("original") or c["name"]),
                type=str(c.get("type") or "text"),
            )
            for c in (_json(row["columns"]) or [])
            if isinstance(c, dict) and "name" in c
        )
        bbox = row["bbox"]
        layer.versions[int(row["version"])] = LayerVersion(
            slug=slug,
            version=int(row["version"]),
            table_name=row["table_name"],
            columns=columns,
            bbox=(float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])) if bbox else None,
            geometry_type=row["version_geometry_type"] or row["geometry_type"],
            feature_count=int(row["feature_count"]),
            token=_token(row),
            pyramid=_pyramid(row),
        )
    return layers


class TileCatalog:
    """Layers by slug, refreshed by layer events and a TTL."""

    def __init__(
        self,
        connection: ConnectionFactory,
        settings: TileSettings,
        *,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._connection = connection
        self.settings = settings
        self.layers: dict[str, TileLayer] = {}
        self.loaded_at = 0.0  # monotonic; 0 = never
        self.loads = 0
        self._refreshing: asyncio.Task[None] | None = None
        self._again = False
        self._on_change = on_change

    # --- reading -------------------------------------------------------------------------------

    def touch(self) -> None:
        """Schedule a background refresh when the snapshot is older than the TTL."""
        if time.monotonic() - self.loaded_at > self.settings.catalogue_ttl_s:
            self.refresh_soon()

    def get(self, slug: str) -> TileLayer | None:
        """The layer (any visibility) from the snapshot."""
        self.touch()
        return self.layers.get(slug)

    async def find(self, slug: str, version: int | None = None) -> TileLayer | None:
        """The layer, re-reading the catalogue once when the slug or version is not known yet."""
        layer = self.get(slug)
        if layer is not None and (version is None or version in layer.versions):
            return layer
        if time.monotonic() - self.loaded_at > _MISS_REFRESH_S:
            await self.refresh()
            layer = self.layers.get(slug)
        return layer

    # --- refreshing ----------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Re-read the catalogue (concurrent callers share one read)."""
        await asyncio.shield(self._start_load())

    def refresh_soon(self) -> None:
        """Re-read the catalogue in the background."""
        self._start_load()

    def _start_load(self) -> asyncio.Task[None]:
        task = self._refreshing
        if task is not None and not task.done():
            # a read already under way may have started before the change we were told about
            self._again = True
            return task
        task = asyncio.ensure_future(self._load())
        task.add_done_callback(_log_failure)
        self._refreshing = task
        return task

    async def _load(self) -> None:
        while True:
            self._again = False
            async with self._connection() as conn:
                rows = await queries.select_catalogue(conn)
            self.layers = layers_from_rows(rows, self.settings)
            self.loaded_at = time.monotonic()
            self.loads += 1
            if not self._again:
                break
        if self._on_change is not None:
            await self._on_change()

    async def current_version(self, slug: str) -> int | None:
        """The published version read from the database now (TileJSON must never lag a publish)."""
        async with self._connection() as conn:
            version = await queries.select_current_version(conn, slug)
        layer = self.layers.get(slug)
        if layer is None or layer.current_version != version or version not in layer.versions:
            await self.refresh()
        return version

    # --- layer events --------------------------------------------------------------------------

    def subscribe(self, events: EventBus) -> None:
        """Refresh on every publish or layer change the worker's event bus hears, and after it (re)connects."""
        events.subscribe(PUBLISHED, self._on_event)
        events.subscribe(CHANGED, self._on_event)
        events.on_connect(self._on_event)  # whatever changed while the bus was not listening

    def _on_event(self, payload: str) -> None:
        logger.info("layer event %r; refreshing the tile catalogue", payload)
        self.refresh_soon()

    async def close(self) -> None:
        """Stop a running refresh."""
        task = self._refreshing
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("tile catalogue refresh failed: %s", type(task.exception()).__name__)
