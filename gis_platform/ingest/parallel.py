"""Run COPY batches and index builds on several connections at once.

The server parses the hex EWKB and computes the stored Web-Mercator column while it COPYs, which is
CPU-bound in one backend; two backends use both cores of a small machine. Each batch is its own
transaction: the version is not published until every batch and index is done, and a failure fails
the whole version (its table is dropped).
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg

logger = logging.getLogger(__name__)


class ConnectionPoolRunner:
    """A few autocommit connections to one database, each used by one task at a time."""

    def __init__(self, conn: psycopg.Connection[Any], workers: int) -> None:
        self.primary = conn
        self.extra: list[psycopg.Connection[Any]] = []
        for _ in range(max(workers, 1) - 1):
            try:
                self.extra.append(
                    psycopg.connect(conn.info.dsn, password=conn.info.password, autocommit=True)
                )
            except psycopg.OperationalError as exc:  # fewer connections is slower, not wrong
                logger.warning("parallel loading disabled: %s", exc)
                break
        self._free: queue.Queue[psycopg.Connection[Any]] = queue.Queue()
        for c in [conn, *self.extra]:
            self._free.put(c)
        self.size = 1 + len(self.extra)
        self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="ingest")
        self._pending: list[Future[None]] = []

    def submit(self, task: Callable[[psycopg.Connection[Any]], None]) -> None:
        """Run ``task(conn)`` on a free connection; keep at most two tasks queued per connection."""
        while len(self._pending) >= 2 * self.size:
            self._pending.pop(0).result()

        def run() -> None:
            conn = self._free.get()
            try:
                task(conn)
            finally:
                self._free.put(conn)

        self._pending.append(self._executor.submit(run))

    def wait(self) -> None:
        """Wait for every submitted task; re-raise the first failure."""
        pending, self._pending = self._pending, []
        errors = []
        for fut in pending:
            try:
                fut.result()
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def run_all(self, tasks: Sequence[Callable[[psycopg.Connection[Any]], None]]) -> None:
        """Run independent tasks in parallel and wait for all."""
        for task in tasks:
            self.submit(task)
        self.wait()

    def close(self) -> None:
        """Stop the threads and close the extra connections (the caller's stays open)."""
        try:
            self.wait()
        except BaseException:
            logger.debug("pending ingest task failed during close", exc_info=True)
        self._executor.shutdown(wait=True)
        for c in self.extra:
            c.close()
