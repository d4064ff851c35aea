"""Layer events across processes: PostgreSQL LISTEN/NOTIFY on one dedicated connection per app.

Every worker process runs one :class:`EventBus` (``app.state.events``). Writers announce changes with
``pg_notify`` inside their transaction (delivered at commit, to every listening worker); subscribers get
the payload text. After (re)connecting the bus calls every ``on_connect`` callback, because events sent
while a worker was not listening are lost: subscribers re-read what they cache.

Channels:
- :data:`PUBLISHED` ``"<slug>:<version>"``: a version was published or rolled back to.
- :data:`CHANGED` ``"<slug>"``: a layer's metadata, visibility or existence changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable

import asyncpg

logger = logging.getLogger(__name__)

PUBLISHED = "gis_layer_published"
CHANGED = "gis_layer_changed"
CHANNELS = (PUBLISHED, CHANGED)

Callback = Callable[[str], Awaitable[None] | None]
_RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0)


async def notify(conn: asyncpg.Connection, channel: str, payload: str) -> None:
    """Send ``payload`` on ``channel`` (delivered when ``conn``'s transaction commits)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown event channel {channel!r}")
    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


class EventBus:
    """Listen on :data:`CHANNELS` and fan the payloads out to subscribers; reconnects by itself."""

    def __init__(self, dsn: str, *, application_name: str = "gis_events") -> None:
        self.dsn = dsn
        self.application_name = application_name
        self.listening = asyncio.Event()
        self.received = 0
        self._subscribers: dict[str, list[Callback]] = {c: [] for c in CHANNELS}
        self._on_connect: list[Callback] = []
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def subscribe(self, channel: str, callback: Callback) -> None:
        """Call ``callback(payload)`` for every event on ``channel`` (sync or async; errors are logged)."""
        if channel not in self._subscribers:
            raise ValueError(f"unknown event channel {channel!r}")
        self._subscribers[channel].append(callback)

    def on_connect(self, callback: Callback) -> None:
        """Call ``callback("")`` each time listening (re)starts: catch up on what may have been missed."""
        self._on_connect.append(callback)

    def start(self) -> None:
        """Start listening in the background (idempotent)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def wait_listening(self, seconds: float = 5.0) -> bool:
        """Wait until the listener is connected; False after ``seconds``."""
        try:
            await asyncio.wait_for(self.listening.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop listening and wait for running callbacks."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._task = None
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    # --- internals --------------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.dsn, timeout=5, server_settings={"application_name": self.application_name}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, ev=lost: ev.set())
                for channel in CHANNELS:
                    await conn.add_listener(channel, self._on_notify)
                attempt = 0
                self.listening.set()
                for callback in self._on_connect:
                    self._dispatch(callback, "")
                await lost.wait()
                logger.warning("event listener lost its connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                logger.debug("event listener cannot connect: %s", type(exc).__name__)
            finally:
                self.listening.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            await asyncio.sleep(_RETRY_S[min(attempt, len(_RETRY_S) - 1)])
            attempt += 1

    def _on_notify(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        self.received += 1
        logger.info("event %s: %s", channel, payload)
        for callback in self._subscribers.get(channel, ()):
            self._dispatch(callback, str(payload))

    def _dispatch(self, callback: Callback, payload: str) -> None:
        try:
            result = callback(payload)
        except Exception:
            logger.exception("event subscriber failed")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._pending.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("event subscriber failed: %r", task.exception())
