"""Collections per process: the catalogue lookup of a request without a round trip.

A collection names a layer's current version (table, columns, feature count): it changes only with a
publish or a change of the layer, which every worker hears on its event bus
(:mod:`gis_platform.events`). Each event, and each (re)connection of the bus (events sent while it was
not listening are lost), empties the cache; entries also expire after ``ttl_s``, for changes made
without an event. A lookup that started before an event is not kept. Unknown or hidden collections
are never cached (a new layer is served at once).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from gis_platform.events import CHANGED, PUBLISHED
from gis_platform.features.models import Collection

Lookup = Callable[[], Awaitable[Collection]]


class CollectionCache:
    """``(slug, internal) → Collection``, emptied by layer events, bounded in age and size."""

    def __init__(self, *, ttl_s: float = 10.0, size: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self.generation = 0
        self._items: dict[tuple[str, bool], tuple[float, Collection]] = {}

    def subscribe(self, events: Any) -> None:
        """Empty the cache on every publish or layer change, and whenever the bus (re)connects."""
        events.subscribe(PUBLISHED, self.clear)
        events.subscribe(CHANGED, self.clear)
        events.on_connect(self.clear)

    def clear(self, _payload: str = "") -> None:
        """Forget every collection."""
        self.generation += 1
        self._items.clear()

    async def get(self, slug: str, internal: bool, lookup: Lookup) -> Collection:
        """The cached collection, or ``lookup()``'s (kept unless an event came meanwhile)."""
        key = (slug, internal)
        hit = self._items.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        generation = self.generation
        collection = await lookup()
        if generation == self.generation:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[key] = (now, collection)
        return collection
