"""Shared helpers of the benchmarks: results file, machine facts, a private database to run on."""

from __future__ import annotations

import http.client
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


class Client:
    """A keep-alive HTTP/1.1 client that reconnects when the server hangs up.

    The standard library's http.client costs ~0.1 ms a request in the client; httpx costs ~0.5 ms more
    (measured on the features page: 6.09 vs 5.45 ms on the same server). Both HTTP benchmarks time our
    server with this one client, so that a figure is the server's cost, not the client's.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.reconnects = 0

    def get(self, path: str, headers: dict[str, str]) -> tuple[float, int]:
        """Time to the last byte of ``path``, and its size."""
        for attempt in (1, 2):
            try:
                t = time.perf_counter()
                self.conn.request("GET", path, headers=headers)
                resp = self.conn.getresponse()
                body = resp.read()
                elapsed = time.perf_counter() - t
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                self.reconnects += 1
                if attempt == 2:
                    raise
        if resp.status not in (200, 204):
            raise RuntimeError(f"{path}: {resp.status} {body[:200]!r}")
        return elapsed, len(body)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
