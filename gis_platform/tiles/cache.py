"""Tile cache tiers: memory (LRU bounded in bytes) → disk (atomic files) → Redis (shared by workers).

Every tier stores the gzip bytes of a tile under a key that names the layer versions (``slug@version.token``),
so a publish makes old entries unreachable; :func:`sweep` deletes those of versions no longer served.
A tier that fails (a full or read-only disk, Redis gone) is skipped with a warning, never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gis_platform.tiles.models import CachedTile

logger = logging.getLogger(__name__)

TileKey = tuple[str, int, int, int]  # (layer set key, z, x, y)
_ENTRY_OVERHEAD = 160  # bytes of bookkeeping per memory entry (key, object, dict slot)
_DISK_RETRY_S = 300.0
_REDIS_RETRY_S = 30.0


def make_tile(key: TileKey, data: bytes, *, gzipped: bool = True) -> CachedTile:
    """A cache entry for a tile's bytes (gzip unless ``gzipped`` is false), with its ETags."""
    tag = (
        hashlib.blake2b(f"{key[0]}/{key[1]}/{key[2]}/{key[3]}".encode(), digest_size=10).hexdigest().encode()
    )
    return CachedTile(
        data=data, gzipped=gzipped, tag=tag, etag=b'"' + tag + b'-gz"', etag_identity=b'"' + tag + b'"'
    )


class MemoryCache:
    """An LRU of tiles bounded by the bytes it holds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[TileKey, CachedTile] = OrderedDict()

    def get(self, key: TileKey) -> CachedTile | None:
        """The tile, marked recently used."""
        tile = self._items.get(key)
        if tile is not None:
            self._items.move_to_end(key)
        return tile

    def put(self, key: TileKey, tile: CachedTile) -> None:
        """Keep ``tile``, evicting the least recently used ones beyond the bound."""
        size = len(tile.data) + _ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= len(old.data) + _ENTRY_OVERHEAD
        self._items[key] = tile
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.bytes -= len(evicted.data) + _ENTRY_OVERHEAD

    def drop(self, keep: Callable[[str], bool]) -> int:
        """Forget the tiles whose layer-set key ``keep`` rejects; return how many."""
        gone = [k for k in self._items if not keep(k[0])]
        for key in gone:
            self.bytes -= len(self._items.pop(key).data) + _ENTRY_OVERHEAD
        return len(gone)

    def __len__(self) -> int:
        return len(self._items)


class DiskCache:
    """Tiles as files ``<root>/<layer set key>/<z>/<x>/<y>.mvt.gz`` (an empty file is an empty tile)."""

    def __init__(self, root: Path, *, enabled: bool = True) -> None:
        self.root = str(root)
        self._disabled_until = 0.0 if enabled else float("inf")

    @property
    def enabled(self) -> bool:
        """False while the disk is disabled after a failure."""
        return time.monotonic() >= self._disabled_until

    def path(self, key: TileKey) -> str:
        """File of a tile."""
        return os.path.join(self.root, key[0], str(key[1]), str(key[2]), f"{key[3]}.mvt.gz")

    def get(self, key: TileKey) -> bytes | None:
        """The stored gzip bytes, or None."""
        if not self.enabled:
            return None
        try:
            with open(self.path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.disable("read", exc)
            return None

    def exists(self, key: TileKey) -> bool:
        """True when the tile is on disk (seeding skips it)."""
        return self.enabled and os.path.exists(self.path(key))

    def put(self, key: TileKey, gz: bytes) -> None:
        """Write atomically (temporary file + rename); a failure disables the tier for a while."""
        if not self.enabled:
            return
        target = self.path(key)
        try:
            directory = os.path.dirname(target)
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(gz)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            self.disable("write", exc)

    def disable(self, what: str, exc: OSError) -> None:
        """Stop using the disk for a while after ``what`` failed."""
        logger.warning(
            "tile disk cache %s failed in %s (%s); disk caching is off for %ds",
            what,
            self.root,
            exc.strerror or type(exc).__name__,
            int(_DISK_RETRY_S),
        )
        self._disabled_until = time.monotonic() + _DISK_RETRY_S

    def layer_keys(self) -> list[str]:
        """The layer-set keys that have a directory."""
        try:
            return [e.name for e in os.scandir(self.root) if e.is_dir()]
        except OSError:
            return []

    def delete_layer_key(self, layer_key: str) -> None:
        """Remove every tile of one layer-set key."""
        shutil.rmtree(os.path.join(self.root, layer_key), ignore_errors=True)


class RedisCache:
    """Tiles in Redis under ``<prefix><layer set key>/<z>/<x>/<y>``; an unreachable Redis is skipped."""

    def __init__(self, url: str, *, prefix: str, ttl_s: int) -> None:
        self.url = url
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
        )
        self._down_until = 0.0

    def _key(self, key: TileKey) -> str:
        return f"{self.prefix}{key[0]}/{key[1]}/{key[2]}/{key[3]}"

    @property
    def available(self) -> bool:
        """False while Redis is considered down."""
        return time.monotonic() >= self._down_until

    def _fail(self, exc: Exception) -> None:
        if self.available:
            logger.warning(
                "tile Redis cache unreachable (%s); skipping it for %ds", type(exc).__name__, _REDIS_RETRY_S
            )
        self._down_until = time.monotonic() + _REDIS_RETRY_S

    async def ping(self) -> bool:
        """Check the connection once (at start)."""
        try:
            await self.client.ping()
            return True
        except (RedisError, OSError) as exc:
            self._fail(exc)
            return False

    async def get(self, key: TileKey) -> bytes | None:
        """The stored gzip bytes, or None."""
        if not self.available:
            return None
        try:
            value: Any = await self.client.get(self._key(key))
        except (RedisError, OSError) as exc:
            self._fail(exc)
            return None
        return bytes(value) if value is not None else None

    async def put(self, key: TileKey, gz: bytes) -> None:
        """Store with the configured expiry."""
        if not self.available:
            return
        try:
            await self.client.set(self._key(key), gz, ex=self.ttl_s)
        except (RedisError, OSError) as exc:
            self._fail(exc)

    async def delete_layer_keys(self, keep: Callable[[str], bool]) -> int:
        """Delete the tiles whose layer-set key ``keep`` rejects; return how many."""
        if not self.available:
            return 0
        deleted = 0
        batch: list[str] = []
        try:
            async for raw in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                layer_key = name[len(self.prefix) :].split("/", 1)[0]
                if not keep(layer_key):
                    batch.append(name)
                if len(batch) >= 500:
                    deleted += int(await self.client.delete(*batch))
                    batch.clear()
            if batch:
                deleted += int(await self.client.delete(*batch))
        except (RedisError, OSError) as exc:
            self._fail(exc)
        return deleted

    async def close(self) -> None:
        """Close the connection pool."""
        with contextlib.suppress(RedisError, OSError):
            await self.client.aclose()


class TileCache:
    """The three tiers together; writes below memory run in the background (``flush`` waits for them)."""

    def __init__(self, memory: MemoryCache, disk: DiskCache | None, redis: RedisCache | None) -> None:
        self.memory = memory
        self.disk = disk
        self.redis = redis
        self._pending: set[asyncio.Future[Any]] = set()

    @property
    def keeps_tiles(self) -> bool:
        """False when every tier is off (benchmarks of the uncached path)."""
        return self.memory.max_bytes > 0 or self.disk is not None or self.redis is not None

    async def get_below_memory(self, key: TileKey) -> tuple[CachedTile | None, str]:
        """Look a tile up on disk, then in Redis (promoting it to the faster tiers); the tier it came from."""
        if self.disk is not None:
            gz = self.disk.get(key)
            if gz is not None:
                tile = make_tile(key, gz)
                self.memory.put(key, tile)
                return tile, "disk"
        if self.redis is not None:
            gz = await self.redis.get(key)
            if gz is not None:
                tile = make_tile(key, gz)
                self.memory.put(key, tile)
                if self.disk is not None:
                    self._background(self._disk_put(key, gz))
                return tile, "redis"
        return None, ""

    def put(self, key: TileKey, tile: CachedTile) -> None:
        """Keep a tile in memory now; a gzip one also on disk and in Redis, in the background."""
        self.memory.put(key, tile)
        if not tile.gzipped:
            return
        if self.disk is not None:
            self._background(self._disk_put(key, tile.data))
        if self.redis is not None:
            self._background(self.redis.put(key, tile.data))

    def compress_later(self, key: TileKey, tile: CachedTile, compress: Callable[[bytes], bytes]) -> None:
        """Gzip a plain tile off the event loop, then keep the gzip version in every tier."""
        self._background(self._compress(key, tile, compress))

    async def _compress(self, key: TileKey, tile: CachedTile, compress: Callable[[bytes], bytes]) -> None:
        gz = await asyncio.get_running_loop().run_in_executor(None, compress, tile.data)
        self.put(key, CachedTile(gz, True, tile.tag, tile.etag, tile.etag_identity))

    async def _disk_put(self, key: TileKey, gz: bytes) -> None:
        assert self.disk is not None  # noqa: S101
        await asyncio.get_running_loop().run_in_executor(None, self.disk.put, key, gz)

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait for the background writes."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def sweep(self, keep: Callable[[str], bool]) -> dict[str, int]:
        """Delete, in every tier, the tiles of layer-set keys that ``keep`` rejects."""
        counts = {"memory": self.memory.drop(keep), "disk": 0, "redis": 0}
        if self.disk is not None:
            for layer_key in self.disk.layer_keys():
                if not keep(layer_key):
                    self.disk.delete_layer_key(layer_key)
                    counts["disk"] += 1
        if self.redis is not None:
            counts["redis"] = await self.redis.delete_layer_keys(keep)
        return counts

    async def close(self) -> None:
        """Finish the writes and close Redis."""
        await self.flush()
        if self.redis is not None:
            await self.redis.close()


def live_key_filter(live_versions: Iterable[str]) -> Callable[[str], bool]:
    """A ``keep`` for :meth:`TileCache.sweep`: a layer-set key is kept when all its versions are live.

    A layer-set key is ``slug@version.token`` (``~tag`` appended per joined relation), several of them
    joined with ``+`` for a composite tile.
    """
    live = set(live_versions)

    def keep(layer_key: str) -> bool:
        return all(part.split("~", 1)[0] in live for part in layer_key.split("+"))

    return keep
