"""Scale-out benchmark: throughput of 2 worker processes against 1, and how fast a publish reaches a worker.

Figures (bench/results/scale.json):
- scale_rps_2workers_vs_1: requests/s of ``gis-platform serve --workers 2`` divided by ``--workers 1`` on a
  mixed read workload (cached tiles of many zooms, TileJSON, catalogue entry and list, a features page),
  driven by ``wrk -t1`` with a Lua script cycling over the paths; each run is warmed up first, and the best
  of ``BENCH_SCALE_ROUNDS`` runs per worker count is taken (the machine is shared, so noise only lowers).
- scale_invalidation_ms: median time from a publish (or rollback) commit, made here with psycopg on the
  primary, until another worker process (listening through its event bus) serves the new version on the
  unversioned tile URL; over ``BENCH_SCALE_SWITCHES`` switches between two versions.
The load generator must stay light (the machine may have 2 cores): wrk uses one thread, 16 connections.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_features import free_port, stop
from common import bench_database, figure, median, percentile, write_results

N_POINTS = int(os.environ.get("BENCH_SCALE_POINTS", "20000"))
SECONDS = int(os.environ.get("BENCH_SCALE_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_SCALE_ROUNDS", "2"))
SWITCHES = int(os.environ.get("BENCH_SCALE_SWITCHES", "20"))
CONNECTIONS = int(os.environ.get("BENCH_SCALE_CONNECTIONS", "16"))
CLI = str(Path(sys.executable).parent / "gis-platform")
SLUG = "bench-scale-points"
CENTRE = (106.70, 10.78)
LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "gzip"})
end
"""


def load(url: str) -> None:
    """Two versions of a point layer; version 1 published."""
    import psycopg

    from gis_platform.db import migrate
    from gis_platform.ingest.service import import_frame
    from tests.factories import ensure_layer, point_frame

    migrate.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        ensure_layer(conn, SLUG, "Point")
        import_frame(conn, SLUG, point_frame(N_POINTS, seed=1), author="bench", publish=True)
        import_frame(conn, SLUG, point_frame(N_POINTS, seed=2), author="bench", publish=False)
        conn.execute("VACUUM ANALYZE")


def workload() -> list[str]:
    """The mixed read paths: 3 in 4 are tiles (cached after warm-up), the rest JSON reads on the database."""
    from gis_platform.tiles.rules import lonlat_to_tile

    tiles = []
    for z in range(10, 15):
        cx, cy = lonlat_to_tile(*CENTRE, z)
        tiles += [f"/tiles/{SLUG}/{z}/{cx + dx}/{cy + dy}.mvt" for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    reads = [
        f"/tiles/{SLUG}.json",
        f"/catalogue/layers/{SLUG}",
        "/catalogue/layers?limit=10",
        f"/collections/{SLUG}/items?limit=10",
    ]
    paths: list[str] = []
    for i, tile in enumerate(tiles):
        paths.append(tile)
        if i % 3 == 2:
            paths.append(reads[(i // 3) % len(reads)])
    return paths


def serve(url: str, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        "DATABASE_URL": url, "DATABASE_REPLICA_URLS": "", "REDIS_URL": "", "GIS_TILES__DISK_CACHE": "false",
        "GIS_API__PORT": str(port),
    }  # fmt: skip
    args = [
        CLI,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    proc = subprocess.Popen(args, env=os.environ | env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(port)
    return proc, port


def wait_healthy(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on {port} is not healthy")


def wrk(port: int, script: Path, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed requests:\n{out}")
    if found is None:
        raise RuntimeError(out)
    return float(found.group(1))


def throughput(url: str, workers: int, script: Path) -> float:
    proc, port = serve(url, workers)
    try:
        wrk(port, script, 3)  # warm-up: every worker caches the tiles, opens its pools, plans its statements
        return max(wrk(port, script, SECONDS) for _ in range(ROUNDS))
    finally:
        stop(proc)


def tile_tag(conn: http.client.HTTPConnection, path: str) -> str:
    conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
    resp = conn.getresponse()
    resp.read()
    if resp.status != 200:
        return ""
    return (resp.getheader("etag") or "").strip('"').removesuffix("-gz")


def invalidation(url: str) -> list[float]:
    """Times (s) from a publish/rollback commit until another worker serves the new version."""
    import psycopg

    from gis_platform.ingest.loader import publish_version, rollback_to
    from gis_platform.tiles.rules import lonlat_to_tile

    z = 12
    x, y = lonlat_to_tile(*CENTRE, z)
    current, versioned = f"/tiles/{SLUG}/{z}/{x}/{y}.mvt", f"/tiles/{SLUG}/v%d/{z}/{x}/{y}.mvt"
    b, b_port = serve(url, 1)  # a worker process of its own; the publisher is this process
    times: list[float] = []
    try:
        client = http.client.HTTPConnection("127.0.0.1", b_port, timeout=10)
        tags: dict[int, str] = {1: tile_tag(client, versioned % 1)}
        version = 1
        with psycopg.connect(url, autocommit=True) as conn:
            for i in range(SWITCHES):
                target = 2 if version == 1 else 1
                if tile_tag(client, current) != tags[version]:
                    raise RuntimeError(f"the other worker does not serve version {version} before the switch")
                if i == 0:
                    publish_version(conn, SLUG, 2, actor="bench")
                else:
                    rollback_to(conn, SLUG, target, actor="bench")
                committed = time.perf_counter()
                while True:
                    if target not in tags:  # a version's URL serves once the worker knows it is published
                        tag = tile_tag(client, versioned % target)
                        if tag:
                            tags[target] = tag
                    if target in tags and tile_tag(client, current) == tags[target]:
                        break
                    if time.perf_counter() - committed > 10:
                        raise RuntimeError("the other worker never served the new version")
                times.append(time.perf_counter() - committed)
                version = target
                time.sleep(0.2)
        client.close()
    finally:
        stop(b)
    return times


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench-scale needs wrk (apt-get install wrk)")
    figures: list[dict[str, Any]] = []
    paths = workload()
    context: dict[str, Any] = {
        "points": N_POINTS, "seconds": SECONDS, "rounds": ROUNDS, "wrk": f"-t1 -c{CONNECTIONS}",
        "paths": len(paths), "switches": SWITCHES, "load_average_before": os.getloadavg()[0],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, bench_database("scale") as url:
        script = Path(tmp) / "workload.lua"
        script.write_text(LUA % ", ".join(f'"{p}"' for p in paths))
        load(url)
        one = throughput(url, 1, script)
        two = throughput(url, 2, script)
        figures.append(figure("scale_rps_2workers_vs_1", two / one, "ratio"))
        context |= {"rps_1_worker": round(one, 1), "rps_2_workers": round(two, 1)}
        times = invalidation(url)
        figures.append(figure("scale_invalidation_ms", median(times) * 1000, "ms"))
        context |= {"invalidation_p95_ms": round(percentile(times, 95) * 1000, 1),
                    "invalidation_max_ms": round(max(times) * 1000, 1)}  # fmt: skip
    context["load_average_after"] = os.getloadavg()[0]
    write_results("scale", figures, context)


if __name__ == "__main__":
    main()
