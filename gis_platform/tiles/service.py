"""Tiles: resolve layers and versions, serve from the cache tiers, run one SQL statement on a miss.

Concurrent misses for one tile wait on the first one's future (single flight), so the SQL runs
once. A new tile is answered uncompressed at once and gzipped off the event loop for the tiers.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager

import asyncpg

from gis_platform import singleflight
from gis_platform.errors import DatabaseUnavailable, InvalidParameter, NotFound
from gis_platform.events import EventBus
from gis_platform.settings import TileSettings
from gis_platform.tiles import queries
from gis_platform.tiles.cache import DiskCache, MemoryCache, RedisCache, TileCache, TileKey, make_tile
from gis_platform.tiles.catalog import TileCatalog
from gis_platform.tiles.connections import TileConnections
from gis_platform.tiles.models import (
    CachedTile,
    JoinedAttributes,
    LayerVersion,
    TileLayer,
    TileRef,
    TileStats,
)
from gis_platform.tiles.rules import rule_for_zoom, valid_tile

logger = logging.getLogger(__name__)

MAX_COMPOSITE = 16
_GZIP_IN_THREAD = 64 * 1024  # compress larger tiles off the event loop
_TAG = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_REFS = 10_000

ConnectionFactory = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]
#: Joins asked for in a request's query string (``?join=…``): (layer, query parameters) → joins.
JoinProvider = Callable[[TileLayer, Sequence[tuple[str, str]]], Awaitable[tuple[JoinedAttributes, ...]]]


class TileNotFound(NotFound):
    """A tile outside the tile matrix or the layer's zoom range."""

    type = "tile-not-found"
    title = "Tile not found"


class InvalidTileParameter(InvalidParameter):
    """A tile coordinate that is not an integer."""

    status = 422


class TileTimeout(DatabaseUnavailable):
    """The tile statement ran out of time."""

    type = "tile-timeout"
    title = "Tile timed out"


class LayerNotFound(NotFound):
    """No public layer (or version) of that name."""

    type = "layer-not-found"
    title = "Layer not found"


def gzip_bytes(data: bytes, level: int) -> bytes:
    """Gzip with a fixed header (no timestamp), so equal tiles have equal bytes and ETags."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


class TileService:
    """Everything a tile request needs, built once per app (or CLI run)."""

    def __init__(
        self,
        settings: TileSettings,
        *,
        connection: ConnectionFactory,
        tile_connections: TileConnections,
        redis_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.connections = tile_connections
        self.catalog = TileCatalog(connection, settings, on_change=self._catalogue_changed)
        disk = DiskCache(settings.cache_dir) if settings.disk_cache else None
        redis = RedisCache(redis_url, prefix=settings.redis_prefix, ttl_s=settings.redis_ttl_s) if (
            redis_url and settings.redis
        ) else None  # fmt: skip
        self.cache = TileCache(MemoryCache(settings.memory_cache_bytes), disk, redis)
        self.stats = TileStats()
        self.short_cache_control = f"public, max-age={settings.unversioned_max_age_s}".encode()
        self._inflight: dict[TileKey, asyncio.Future[CachedTile]] = {}
        self._queries: dict[tuple[str, int], queries.TileQuery] = {}
        self._refs: dict[tuple[str, str | None], TileRef] = {}
        self._joins: dict[str, tuple[JoinedAttributes, ...]] = {}

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self, events: EventBus | None = None) -> None:
        """Follow the worker's layer events, check Redis, read the catalogue (if the database answers)."""
        if events is not None:
            self.catalog.subscribe(events)
        if self.cache.disk is not None:
            try:
                self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.cache.disk.disable("create", exc)
        if self.cache.redis is not None:
            await self.cache.redis.ping()
        try:
            await self.catalog.refresh()
        except (DatabaseUnavailable, OSError, asyncpg.PostgresError) as exc:
            logger.warning("tile catalogue not loaded at start (%s); retrying on demand", type(exc).__name__)

    async def close(self) -> None:
        """Stop a catalogue refresh, finish cache writes, close Redis."""
        await self.catalog.close()
        await self.cache.close()
        await self.connections.close()

    async def _catalogue_changed(self) -> None:
        self._refs.clear()
        self._queries.clear()
        self.stats.catalogue_loads = self.catalog.loads

    # --- joined attributes (statistics) --------------------------------------------------------

    def set_joins(self, slug: str, joins: tuple[JoinedAttributes, ...]) -> None:
        """Join attributes onto a layer's tiles (replacing earlier joins).

        Each join's ``tag`` (``[A-Za-z0-9_.-]``) names the state of the joined data: it enters the
        cache keys and the versioned URLs, so new joined data gives new URLs.
        """
        for join in joins:
            if not _TAG.fullmatch(join.tag):
                raise ValueError(f"join tag {join.tag!r} must match {_TAG.pattern}")
        self._joins[slug] = joins
        self._refs.clear()
        self._queries.clear()

    async def resolve_joined(
        self, slugs: str, versions: str | None, params: Sequence[tuple[str, str]], provider: JoinProvider | None,
        *, internal: bool = False,
    ) -> TileRef:  # fmt: skip
        """Resolve a layer with the joins its request asks for (``?join=…``, see ``provider``)."""
        if provider is None:
            raise InvalidParameter("join", "Joins are not available on this server.")
        if "," in slugs:
            raise InvalidParameter("join", "Joins apply to one layer, not to a composite tile.")
        number = None if versions is None else versions.split("~", 1)[0]
        plain = await self.resolve(slugs, number, internal=internal)
        requested = await provider(plain.layers[0], params)
        joins = (plain.joins[0] + requested,)
        for join in requested:
            if not _TAG.fullmatch(join.tag):
                raise ValueError(f"join tag {join.tag!r} must match {_TAG.pattern}")
        version = plain.versions[0]
        segment = str(version.version) + "".join(f"~{j.tag}" for j in joins[0])
        key = f"{version.slug}@{version.version}.{version.token}{segment[len(str(version.version)) :]}"
        return TileRef(plain.layers, plain.versions, joins, key, versioned=versions == segment)

    # --- resolution ----------------------------------------------------------------------------

    async def resolve(self, slugs: str, versions: str | None = None, *, internal: bool = False) -> TileRef:
        """Resolve ``a,b`` (and ``v3,5``) to layer versions; 404 for unknown ones.

        Internal layers answer 404 too (the same answer as an unknown layer) unless ``internal``.
        """
        ref = self._refs.get((slugs, versions))
        if ref is not None:
            self.catalog.touch()
            if not internal and not ref.public:
                hidden = next(layer.slug for layer in ref.layers if not layer.public)
                raise LayerNotFound(f"No public layer {hidden!r}.", layer_id=hidden)
            return ref
        names = slugs.split(",")
        if len(names) > MAX_COMPOSITE:
            raise InvalidParameter("slug", f"A composite tile combines at most {MAX_COMPOSITE} layers.")
        if len(set(names)) != len(names):
            raise InvalidParameter("slug", "A layer is listed twice.")
        wanted = _parse_versions(versions, len(names))
        layers: list[TileLayer] = []
        chosen: list[LayerVersion] = []
        for name, number in zip(names, wanted, strict=True):
            layer = await self.catalog.find(name, number)
            if layer is None or not (layer.public or internal):
                raise LayerNotFound(f"No public layer {name!r}.", layer_id=name)
            version = layer.versions.get(number) if number is not None else layer.current
            if version is None:
                which = f"version {number}" if number is not None else "a published version"
                raise LayerNotFound(f"Layer {name!r} has no {which} to serve.", layer_id=name)
            layers.append(layer)
            chosen.append(version)
        joins = tuple(self._joins.get(layer.slug, ()) for layer in layers)
        tagged = [
            (v, str(v.version) + "".join(f"~{j.tag}" for j in js))
            for v, js in zip(chosen, joins, strict=True)
        ]
        key = "+".join(
            f"{v.slug}@{v.version}.{v.token}{segment[len(str(v.version)) :]}" for v, segment in tagged
        )
        # immutable only when the URL names the joined data's state too (a stale tag serves today's data)
        versioned = versions is not None and versions == ",".join(segment for _, segment in tagged)
        ref = TileRef(tuple(layers), tuple(chosen), joins, key, versioned=versioned)
        if len(self._refs) >= _MAX_REFS:
            self._refs.clear()
        self._refs[(slugs, versions)] = ref
        return ref

    # --- tiles ---------------------------------------------------------------------------------

    def cached(
        self, slugs: str, versions: str | None, z: int, x: int, y: int, *, internal: bool = False
    ) -> tuple[CachedTile, TileRef] | None:
        """A memory hit for a layer set resolved before (the cache lane's question); None otherwise.

        A set with an internal layer is a hit only when ``internal`` (the caller may see it).
        """
        ref = self._refs.get((slugs, versions))
        if ref is None or not ref.minzoom <= z <= ref.maxzoom or not (internal or ref.public):
            return None
        tile = self.cache.memory.get((ref.key, z, x, y))
        if tile is None:
            return None
        self.catalog.touch()
        self.stats.memory_hits += 1
        return tile, ref

    async def tile(self, ref: TileRef, z: int, x: int, y: int, *, gzip_now: bool | None = None) -> CachedTile:
        """The tile's cache entry (``data == b""`` when it has no features).

        ``gzip_now``: answer with the gzip form (default: ``settings.gzip_before_answer``). Concurrent misses
        of one tile wait on the first one's future (:func:`gis_platform.singleflight.lead`).
        """
        if gzip_now is None:
            gzip_now = self.settings.gzip_before_answer
        if not valid_tile(z, x, y, self.settings.max_zoom) or not ref.minzoom <= z <= ref.maxzoom:
            raise TileNotFound(_out_of_range(ref, z, x, y, self.settings.max_zoom))
        key = (ref.key, z, x, y)
        while True:
            hit = self.cache.memory.get(key)
            if hit is not None and (hit.gzipped or not gzip_now):
                self.stats.memory_hits += 1
                return hit
            pending = self._inflight.get(key)
            if pending is None:
                break
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                # the request that ran the statement went away: try again, unless this one did too
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise
        # this request makes the tile; concurrent requests for it wait on the same future
        return await singleflight.lead(self._inflight, key, self._produce(ref, key, gzip_now=gzip_now))

    async def tile_gz(self, ref: TileRef, z: int, x: int, y: int) -> CachedTile:
        """The tile in its gzip form (seeding and export store these)."""
        tile = await self.tile(ref, z, x, y, gzip_now=True)
        if tile.gzipped:
            return tile
        return CachedTile(await self._gzip(tile.data), True, tile.tag, tile.etag, tile.etag_identity)

    async def _produce(self, ref: TileRef, key: TileKey, *, gzip_now: bool) -> CachedTile:
        if self.cache.disk is not None or self.cache.redis is not None:
            tile, tier = await self.cache.get_below_memory(key)
            if tile is not None:
                if tier == "disk":
                    self.stats.disk_hits += 1
                else:
                    self.stats.redis_hits += 1
                return tile
        mvt = await self.render(ref, key[1], key[2], key[3])
        if not mvt:
            tile = make_tile(key, b"")
        elif gzip_now:
            tile = make_tile(key, await self._gzip(mvt))
        else:
            # answer with the plain MVT now; gzip it off the event loop for the cache tiers
            tile = make_tile(key, mvt, gzipped=False)
            if self.cache.keeps_tiles:
                self.cache.compress_later(key, tile, self._compress)
        self.cache.put(key, tile)
        return tile

    def _compress(self, data: bytes) -> bytes:
        return gzip_bytes(data, self.settings.gzip_level)

    async def _gzip(self, data: bytes) -> bytes:
        if len(data) > _GZIP_IN_THREAD:
            return await asyncio.get_running_loop().run_in_executor(None, self._compress, data)
        return self._compress(data)

    def query_for(self, ref: TileRef, z: int) -> queries.TileQuery:
        """The statement of ``ref``'s tiles at zoom ``z`` (composed once, then cached)."""
        query = self._queries.get((ref.key, z))
        if query is None:
            parts = [
                queries.LayerPart(
                    name=layer.slug,
                    version=version,
                    rule=rule_for_zoom(
                        layer.rules, version.geometry_type, tuple(c.name for c in version.columns), z
                    ),
                    buffer=layer.rules.buffer,
                    joins=joins,
                )
                for layer, version, joins in zip(ref.layers, ref.versions, ref.joins, strict=True)
                if layer.rules.minzoom <= z <= layer.rules.maxzoom
            ]
            query = queries.build_tile_query(
                parts,
                z,
                grid_cells=self.settings.grid_cells,
                max_features=self.settings.max_features_per_tile,
            )
            if len(self._queries) >= _MAX_REFS:  # joins asked for in requests make many keys
                self._queries.clear()
            self._queries[(ref.key, z)] = query
        return query

    async def render(self, ref: TileRef, z: int, x: int, y: int) -> bytes:
        """Run the tile statement (a replica may serve it); the uncompressed MVT bytes."""
        query = self.query_for(ref, z)
        args = queries.tile_args(query, z, x, y)
        try:
            self.stats.sql_executions += 1
            try:
                value = await self.connections.fetchval(query.sql, args)
            except asyncpg.UndefinedTableError:
                # a replica behind a publish, or a version table dropped since the catalogue was read
                value = await self.connections.fetchval(query.sql, args, primary=True)
            return bytes(value) if value else b""
        except asyncpg.UndefinedTableError as exc:
            self.catalog.refresh_soon()
            raise LayerNotFound("The layer version is no longer stored.") from exc
        except asyncpg.QueryCanceledError as exc:
            raise TileTimeout("The tile took too long to build; retry later.") from exc

    # --- maintenance ---------------------------------------------------------------------------

    def live_version_keys(self, *, keep_superseded: bool = True) -> set[str]:
        """Cache keys of the versions still served: current ones, and superseded ones still stored."""
        keys: set[str] = set()
        for layer in self.catalog.layers.values():
            for number, version in layer.versions.items():
                if number == layer.current_version or keep_superseded:
                    keys.add(version.key)
        return keys


def _parse_versions(text: str | None, count: int) -> list[int | None]:
    if text is None:
        return [None] * count
    parts = [p.split("~", 1)[0] for p in text.split(",")]
    if len(parts) != count or not all(p.isdigit() and len(p) < 10 for p in parts):
        raise TileNotFound(f"Version {text!r} does not name one version per layer.")
    return [int(p) for p in parts]


def _out_of_range(ref: TileRef, z: int, x: int, y: int, max_zoom: int) -> str:
    if z < 0 or z > max_zoom:
        return f"Zoom {z} is outside 0..{max_zoom}."
    if not ref.minzoom <= z <= ref.maxzoom:
        return f"Zoom {z} is outside the layer's zoom range {ref.minzoom}..{ref.maxzoom}."
    return f"Tile {z}/{x}/{y} does not exist: x and y must be in 0..{(1 << z) - 1} at zoom {z}."
