"""Shared helpers of the benchmarks: results file, machine facts, a private database to run on."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httptools

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    """The median."""
    return statistics.median(values)


def machine() -> dict[str, Any]:
    """Facts to record beside the figures."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def write_results(name: str, figures: list[dict[str, Any]], context: dict[str, Any] | None = None) -> Path:
    """Write ``bench/results/<name>.json`` and print ``name = value`` lines."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {"figures": figures, "context": {**machine(), **(context or {})}}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False))
    for fig in figures:
        value = fig["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{fig['name']} = {shown}")  # the contract: one line per figure
    return path


def figure(name: str, value: float, unit: str) -> dict[str, Any]:
    """One figure."""
    return {"name": name, "value": round(value, 4) if isinstance(value, float) else value, "unit": unit}


@contextmanager
def bench_database(prefix: str = "bench") -> Iterator[str]:
    """A database of its own on BENCH_DATABASE_URL's server or the private bench cluster; yields its URL."""
    import psycopg
    from psycopg import sql

    from gis_platform.db.cluster import LocalCluster

    admin = os.environ.get("BENCH_DATABASE_URL")
    cluster = None
    if not admin:
        cluster = LocalCluster(ROOT / ".gis-platform" / "bench", preferred_port=54349)
        cluster.up()
        admin = cluster.url("postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def checkpoint(conn: Any) -> None:
    """Write a load's dirty pages now, not in the checkpointer's background while requests are timed.

    ``CHECKPOINT`` needs a superuser or ``pg_checkpoint``; without it (a ``BENCH_DATABASE_URL`` server)
    the benchmark goes on as before.
    """
    import psycopg

    try:
        conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        pass


class Client:
    """A keep-alive HTTP/1.1 client: the request written in one send, the answer parsed by httptools.

    The benchmarks time our server through it, and TiPg through it too, so a figure is the server's cost,
    not the client's. The raw floor is timed through asyncpg, whose protocol parser is compiled; this
    client's parser is compiled too (httptools, which uvicorn already depends on). Measured on the
    uncached tile path of the same server in one alternating run: the standard library's http.client
    added ~0.05 ms a request of its own (buffered reads, header parsing by ``email``); httpx
    added ~0.5 ms more on a features page. The client checks the status and reads every body byte.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.reconnects = 0

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=120)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        return sock

    def get(self, path: str, headers: dict[str, str]) -> tuple[float, int]:
        """Time to the last byte of ``path``, and its size (a status other than 200 or 204 raises)."""
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        for attempt in (1, 2):
            sock = self.sock or self._connect()
            try:
                t = time.perf_counter()
                sock.sendall(request)
                answer = _read_answer(sock)
                elapsed = time.perf_counter() - t
                break
            except (OSError, httptools.HttpParserError):
                # the server closed an idle keep-alive connection: once more on a new one (GET is idempotent)
                self.close()
                self.reconnects += 1
                if attempt == 2:
                    raise
        if not answer.keep_alive:
            self.close()
        body = b"".join(answer.body)
        if answer.status not in (200, 204):
            raise RuntimeError(f"{path}: {answer.status} {body[:200]!r}")
        return elapsed, len(body)

    def close(self) -> None:
        """Close the connection."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class _Answer:
    """httptools' callbacks: status, body chunks (de-chunked), keep-alive, whether the message is complete."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.complete = False
        self.status = 0
        self.keep_alive = False

    def on_body(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        # asked here: once the message is complete the parser resets and says "close"
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True


def _read_answer(sock: socket.socket) -> _Answer:
    answer = _Answer()
    while not answer.complete:
        data = sock.recv(1 << 20)
        if not data:
            raise ConnectionResetError("the server closed the connection")
        answer.parser.feed_data(data)
    return answer
