"""Features benchmark: OGC API items pages from a 1,000,000-point layer against the raw floor.

Figures (bench/results/features.json):
- items_p50_vs_raw: p50 of GET /collections/x/items?bbox=…&limit=1000 (a full page, ~80,000 matches) over
  HTTP, divided by the p50 of the same SQL statements run directly with asyncpg (the page statement our
  server runs, fetched whole, plus the planner estimate it runs for numberMatched; same session settings).
- items_cql2_p50_vs_raw: the same with an attribute + spatial CQL2 filter.
- items_p50_vs_tipg: our p50 / TiPg's p50 for the same bbox page on the same table (when TiPg can be
  installed into its own virtualenv under .gis-platform/; otherwise the figure is left out).
- items_stream_rss_mb: peak RSS of the server process while it streams the whole layer as GeoJSON.
Requests alternate between contenders; each measures time to the last byte with the keep-alive
client of ``common.Client`` (the tiles benchmark's, which parses with httptools; httpx would add ~0.5 ms
of its own per request), asking for no compression (``Accept-Encoding: identity``): the raw floor is not compressed either.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from common import ROOT, Client, bench_database, checkpoint, figure, median, write_results

N_POINTS = int(os.environ.get("BENCH_POINTS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "200"))
SLUG = "bench-points"
BBOX = (106.65, 10.75, 106.70, 10.80)
CQL2 = "kind = 'a' AND S_INTERSECTS(geom, BBOX(106.65, 10.75, 106.70, 10.80))"
PY = sys.executable
TIPG_VENV = ROOT / ".gis-platform" / "bench-tipg-venv"
IDENTITY = {"Accept-Encoding": "identity"}

SERVER = """
import sys, uvicorn
from gis_platform.settings import Settings
from gis_platform.web.app import create_app
from gis_platform.features.router import router
app = create_app(Settings(), database_url=sys.argv[1])
if not any(getattr(r, "path", "") == "/collections" for r in app.routes):
    app.include_router(router)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False, server_header=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load(url: str) -> None:
    import psycopg

    from gis_platform.db import migrate
    from gis_platform.ingest.service import import_frame
    from tests.factories import ensure_layer, point_frame

    migrate.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        ensure_layer(conn, SLUG, "Point")
        import_frame(conn, SLUG, point_frame(N_POINTS, seed=42), author="bench", publish=True)
        conn.execute("VACUUM ANALYZE")
        checkpoint(conn)


def start(args: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, env={**os.environ, **(env or {})}, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server on {port} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server this script started (SIGTERM, then SIGKILL after 15 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def timed_get(client: Client, path: str, params: dict[str, Any]) -> float:
    """Time to the last byte of ``path?params`` (an error status raises)."""
    return client.get(f"{path}?{urlencode(params)}", IDENTITY)[0]


async def raw_statements(url: str, params: list[tuple[str, str]]) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements our server runs for these parameters, built by its own query builder."""
    import asyncpg

    from gis_platform.features import queries, service
    from gis_platform.features.params import items_query

    conn = await asyncpg.connect(url)
    try:
        collection = await service.get_collection(conn, SLUG)
    finally:
        await conn.close()
    query = await items_query(params, collection)
    page = queries.items_statement(collection, query, "geojson")
    estimate = queries.estimate_statement(collection, query)
    return [(page.text, page.args), (estimate.text, estimate.args)]


def raw_timer(url: str, statements: list[tuple[str, tuple[Any, ...]]]) -> Any:
    """A function timing the statements over one asyncpg connection (run in a private event loop)."""
    import asyncpg

    loop = asyncio.new_event_loop()
    settings = {"jit": "off", "max_parallel_workers_per_gather": "0", "plan_cache_mode": "force_custom_plan"}
    conn = loop.run_until_complete(asyncpg.connect(url, server_settings=settings))

    async def once() -> float:
        t = time.perf_counter()
        rows = await conn.fetch(*[statements[0][0], *statements[0][1]])
        body = ",".join(r[0] for r in rows).encode()  # the floor also has the features as one text
        await conn.fetchval(statements[1][0], *statements[1][1])
        if not body:
            raise RuntimeError("the raw page is empty")
        return time.perf_counter() - t

    return lambda: loop.run_until_complete(once())


def compare(client: Client, path: str, params: dict[str, Any], raw: Any, rounds: int) -> tuple[float, float]:
    for _ in range(5):
        timed_get(client, path, params)
        raw()
    ours, floor = [], []
    for _ in range(rounds):
        ours.append(timed_get(client, path, params))
        floor.append(raw())
    return median(ours), median(floor)


def rss_while_streaming(base: str, pid: int) -> tuple[float, float, int]:
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        status = Path(f"/proc/{pid}/status")
        while not done.is_set():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak[0] = max(peak[0], int(line.split()[1]) / 1024)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    size = 0
    t = time.perf_counter()
    url = f"{base}/collections/{SLUG}/download"
    with httpx.stream("GET", url, params={"f": "geojson"}, headers=IDENTITY, timeout=600) as resp:
        resp.raise_for_status()
        for chunk in resp.iter_raw():
            size += len(chunk)
    seconds = time.perf_counter() - t
    done.set()
    sampler.join()
    return peak[0], seconds, size


def tipg_python() -> str | None:
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        made = subprocess.run([PY, "-m", "venv", str(TIPG_VENV)], check=False)
        if made.returncode != 0:
            return None
        pip = subprocess.run(
            [str(TIPG_VENV / "bin" / "pip"), "install", "-q", "tipg", "uvicorn"], check=False
        )
        if pip.returncode != 0:
            return None
    return str(python)


def main() -> None:
    figures: list[dict[str, Any]] = []
    context: dict[str, Any] = {
        "points": N_POINTS,
        "rounds": ROUNDS,
        "bbox": BBOX,
        "cql2": CQL2,
        "limit": 1000,
    }
    with bench_database("features") as url:
        load(url)
        port = free_port()
        server = start([PY, "-c", SERVER, url, str(port)], port)
        base = f"http://127.0.0.1:{port}"
        try:
            client = Client(port)
            try:
                bbox = ",".join(map(str, BBOX))
                page = {"bbox": bbox, "limit": 1000}
                body = httpx.get(f"{base}/collections/{SLUG}/items", params=page, timeout=60).json()
                context["page_numberMatched"] = body["numberMatched"]
                raw = raw_timer(url, asyncio.run(raw_statements(url, [("bbox", bbox), ("limit", "1000")])))
                ours_p50, raw_p50 = compare(client, f"/collections/{SLUG}/items", page, raw, ROUNDS)
                figures.append(figure("items_p50_vs_raw", ours_p50 / raw_p50, "ratio"))
                context |= {"items_p50_ms": ours_p50 * 1000, "raw_p50_ms": raw_p50 * 1000}
                cql = {"filter": CQL2, "limit": 1000}
                raw_cql = raw_timer(
                    url, asyncio.run(raw_statements(url, [("filter", CQL2), ("limit", "1000")]))
                )
                cql_p50, raw_cql_p50 = compare(client, f"/collections/{SLUG}/items", cql, raw_cql, ROUNDS)
                figures.append(figure("items_cql2_p50_vs_raw", cql_p50 / raw_cql_p50, "ratio"))
                context |= {"items_cql2_p50_ms": cql_p50 * 1000, "raw_cql2_p50_ms": raw_cql_p50 * 1000}
                tipg = tipg_python() if os.environ.get("BENCH_TIPG", "1") == "1" else None
                if tipg:
                    figures.append(figure("items_p50_vs_tipg", ours_p50 / tipg_p50(tipg, url, page), "ratio"))
            finally:
                client.close()
            peak, seconds, size = rss_while_streaming(base, server.pid)
            figures.append(figure("items_stream_rss_mb", peak, "MB"))
            context |= {"stream_seconds": seconds, "stream_bytes": size}
        finally:
            stop(server)
    write_results("features", figures, context)


def tipg_p50(python: str, url: str, params: dict[str, Any]) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT v.table_name FROM catalogue.layer l JOIN catalogue.layer_version v "
            "ON v.layer_id = l.id AND v.version = l.current_version WHERE l.slug = %s",
            (SLUG,),
        ).fetchone()
    if row is None:
        raise RuntimeError(f"no layer {SLUG}")
    port = free_port()
    env = {"DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["layerdata"]', "TIPG_MAX_FEATURES_PER_QUERY": "10000"}
    proc = start(
        [python, "-m", "uvicorn", "tipg.main:app", "--port", str(port), "--log-level", "warning"], port, env
    )
    client = Client(port)
    try:
        path = f"/collections/layerdata.{row[0]}/items"
        for _ in range(5):
            timed_get(client, path, params)
        times = [timed_get(client, path, params) for _ in range(ROUNDS)]
    finally:
        client.close()
        stop(proc)
    return median(times)


if __name__ == "__main__":
    main()
