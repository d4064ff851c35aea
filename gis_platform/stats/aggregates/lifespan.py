"""Keep layer aggregates fresh in the API: recompute on every publish event, catch up at start.

``install_aggregates(app)`` adds ``GET /stats/aggregates`` and wraps the app's lifespan: once the
event bus exists (``app.state.events``), published versions are queued and computed one at a time in
a thread (psycopg, its own connection); the startup catch-up runs in the background, so it never
delays serving. Several workers may get the same event: the per-version advisory lock and the
"already computed on these boundaries" check make that harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI

from gis_platform import events
from gis_platform.stats.aggregates.compute import aggregate, aggregate_version, parse_event
from gis_platform.stats.aggregates.router import router
from gis_platform.web.lifespan import nest_lifespan

logger = logging.getLogger(__name__)

CATCH_UP = ""  # the queue's marker for "every stale version"


class AggregateRefresher:
    """A queue of publish events (and catch-ups) worked off by one task, one version at a time."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.done = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker task (idempotent)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def published(self, payload: str) -> None:
        """The event bus callback: queue ``"<slug>:<version>"``."""
        if parse_event(payload) is not None:
            self.queue.put_nowait(payload)

    def catch_up(self, _payload: str = "") -> None:
        """Queue a catch-up (at start and after the listener reconnects: events may have been missed)."""
        self.queue.put_nowait(CATCH_UP)

    async def close(self) -> None:
        """Stop the worker (a computation running in its thread finishes on its own)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                await asyncio.to_thread(self._work, item)
                self.done += 1
            except (psycopg.Error, OSError) as exc:
                logger.warning("layer aggregates of %r failed: %s", item or "catch-up", exc)
            except Exception:
                logger.exception("layer aggregates of %r failed", item or "catch-up")

    def _work(self, item: str) -> None:
        with psycopg.connect(self.dsn, autocommit=True, application_name="gis_aggregates") as conn:
            if item == CATCH_UP:
                report = aggregate(conn, stale_only=True)
                if report.computed:
                    logger.info("layer aggregates caught up: %s versions", report.computed)
                return
            parsed = parse_event(item)
            if parsed is not None:
                aggregate_version(conn, *parsed)


@asynccontextmanager
async def aggregates_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Subscribe to publish events and catch up in the background (needs ``app.state.db`` and ``events``)."""
    bus: events.EventBus | None = getattr(app.state, "events", None)
    refresher = AggregateRefresher(app.state.db.dsn)
    app.state.aggregates = refresher
    if bus is not None:
        bus.subscribe(events.PUBLISHED, refresher.published)
        bus.on_connect(refresher.catch_up)
    refresher.catch_up()
    refresher.start()
    try:
        yield
    finally:
        await refresher.close()


def install_aggregates(app: FastAPI) -> None:
    """Add ``GET /stats/aggregates`` and run :func:`aggregates_lifespan` inside the app's lifespan."""
    app.include_router(router)
    nest_lifespan(app, aggregates_lifespan)


__all__ = ["AggregateRefresher", "aggregates_lifespan", "install_aggregates", "router"]
