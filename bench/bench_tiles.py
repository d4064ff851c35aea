"""Tiles benchmark: vector tiles of a 1,000,000-point and a 200,000-line layer against the raw floor.

Figures (bench/results/tiles.json):
- tiles_uncached_p50_vs_raw: p50 of GET /tiles/<slug>/z/x/y.mvt with every cache tier off, over a fixed list
  of >= 300 tiles at zooms 8-16 weighted to the dense centre, divided by the p50 of the same statements
  (the text and bind values our server builds) run directly with asyncpg; requests alternate with the floor.
- tiles_uncached_p50_vs_tipg: our uncached p50 / TiPg's p50 on the same tiles of the same tables (when TiPg
  installs into its own virtualenv under .gis-platform/; otherwise left out).
- tiles_cached_p50_ms: p50 latency of one cached tile with a keep-alive client (client time included).
- tiles_cached_rps: ``wrk -t2 -c32 -d10s`` on one cached tile, one worker (left out without wrk).
- tiles_max_bytes: the largest tile (uncompressed MVT) of both layers at any zoom of their range, over the
  benchmark's tiles and the densest tile of every zoom.
Clients ask for ``Accept-Encoding: identity`` on the uncached path: the raw floor is not compressed either.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import time
from typing import Any

import numpy as np
from bench_features import free_port, start, tipg_python
from common import Client, bench_database, checkpoint, figure, median, write_results

N_POINTS = int(os.environ.get("BENCH_POINTS", "1000000"))
N_LINES = int(os.environ.get("BENCH_LINES", "200000"))
N_TILES = int(os.environ.get("BENCH_TILES", "320"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
PY = sys.executable
CENTRE = (106.70, 10.78)
HCMC = (106.35, 10.35, 107.05, 11.15)
ZOOM_WEIGHTS = {8: 1, 9: 1, 10: 2, 11: 2, 12: 3, 13: 3, 14: 4, 15: 4, 16: 4}
POINTS, LINES = "bench-points-1m", "bench-lines-200k"
TILE_SETTINGS = {
    POINTS: {"minzoom": 8, "maxzoom": 16, "thin_points_below_zoom": 12,
             "attributes_by_zoom": {"8": ["name"], "14": ["name", "kind", "value", "score"]}},
    LINES: {"minzoom": 8, "maxzoom": 16, "simplify_by_zoom": {"8": 2.0, "13": 1.0, "15": 0.25},
            "attributes_by_zoom": {"8": ["name"], "14": ["name", "lanes"]}},
}  # fmt: skip
IDENTITY = {"Accept-Encoding": "identity"}

SERVER = """
import sys, uvicorn
from gis_platform.settings import Settings
from gis_platform.web.app import create_app
app = create_app(Settings(), database_url=sys.argv[1])
if not hasattr(app.state, "tiles") and not any(getattr(r, "path", "") == "/tiles/{slugs}.json" for r in app.routes):
    from gis_platform.tiles.lifespan import install_tiles
    install_tiles(app)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False, server_header=False)
"""


def dense_xy(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates weighted to the centre: 60% within a few km of it, the rest over the city."""
    k = int(n * 0.6)
    xs = np.concatenate([rng.normal(CENTRE[0], 0.03, k), rng.uniform(HCMC[0], HCMC[2], n - k)])
    ys = np.concatenate([rng.normal(CENTRE[1], 0.03, k), rng.uniform(HCMC[1], HCMC[3], n - k)])
    return np.clip(xs, HCMC[0], HCMC[2]), np.clip(ys, HCMC[1], HCMC[3])


def load(url: str) -> None:
    import geopandas as gpd
    import psycopg
    import shapely

    from gis_platform.db import migrate
    from gis_platform.ingest.service import import_frame
    from tests.factories import ensure_layer

    migrate.upgrade(url)
    rng = np.random.default_rng(42)
    xs, ys = dense_xy(N_POINTS, rng)
    points = gpd.GeoDataFrame(
        {"name": [f"Điểm {i}" for i in range(N_POINTS)], "kind": rng.choice(["a", "b", "c"], N_POINTS),
         "value": rng.integers(0, 1000, N_POINTS), "score": rng.random(N_POINTS)},
        geometry=shapely.points(xs, ys), crs=4326,
    )  # fmt: skip
    xs, ys = dense_xy(N_LINES, rng)
    steps = rng.normal(0, 0.0015, (N_LINES, 3, 2)).cumsum(axis=1)
    coords = np.concatenate(
        [np.stack([xs, ys], axis=1)[:, None, :], np.stack([xs, ys], axis=1)[:, None, :] + steps], 1
    )
    lines = gpd.GeoDataFrame(
        {"name": [f"Đường {i}" for i in range(N_LINES)], "lanes": rng.integers(1, 6, N_LINES)},
        geometry=shapely.linestrings(coords), crs=4326,
    )  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        for slug, frame, kind in ((POINTS, points, "Point"), (LINES, lines, "LineString")):
            ensure_layer(conn, slug, kind)
            conn.execute(
                "UPDATE catalogue.layer SET tile_settings = %s WHERE slug = %s",
                (psycopg.types.json.Jsonb(TILE_SETTINGS[slug]), slug),
            )
            import_frame(conn, slug, frame, author="bench", publish=True)
        conn.execute("VACUUM ANALYZE")
        checkpoint(conn)


def tile_list() -> list[tuple[str, int, int, int]]:
    """A fixed list of tiles of both layers, weighted to the dense centre and the higher zooms."""
    from gis_platform.tiles.rules import lonlat_to_tile

    rng = random.Random(7)
    zooms = [z for z, w in ZOOM_WEIGHTS.items() for _ in range(w)]
    tiles: list[tuple[str, int, int, int]] = []
    seen: set[tuple[str, int, int, int]] = set()
    while len(tiles) < N_TILES:
        slug = POINTS if len(tiles) % 2 == 0 else LINES
        z = rng.choice(zooms)
        spread = 0.04 if rng.random() < 0.8 else 0.25
        x, y = lonlat_to_tile(rng.gauss(CENTRE[0], spread), rng.gauss(CENTRE[1], spread), z)
        if (slug, z, x, y) not in seen:
            seen.add((slug, z, x, y))
            tiles.append((slug, z, x, y))
    return tiles


class Raw:
    """The floor: our statements, run over one asyncpg connection with the server's session settings."""

    def __init__(self, url: str) -> None:
        import asyncpg

        from gis_platform.settings import TileSettings
        from gis_platform.tiles import queries
        from gis_platform.tiles.catalog import layers_from_rows
        from gis_platform.tiles.service import TileService

        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(url, server_settings={"jit": "off"}))
        settings = TileSettings(disk_cache=False, memory_cache_bytes=0)
        self.service = TileService(settings, connection=None, tile_connections=None)  # type: ignore[arg-type]
        rows = self.loop.run_until_complete(queries.select_catalogue(self.conn))
        self.service.catalog.layers = layers_from_rows(rows, settings)
        self.service.catalog.loaded_at = time.monotonic() + 10**9

    def __call__(self, slug: str, z: int, x: int, y: int) -> tuple[float, int]:
        async def once() -> tuple[float, int]:
            ref = await self.service.resolve(slug)
            query = self.service.query_for(ref, z)
            t = time.perf_counter()
            value = await self.conn.fetchval(query.sql, z, x, y, *query.args)
            return time.perf_counter() - t, len(value or b"")

        return self.loop.run_until_complete(once())


def serve(url: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    base = {"REDIS_URL": "", "GIS_TILES__DISK_CACHE": "false"}
    return start([PY, "-c", SERVER, url, str(port)], port, base | env), port


def uncached(url: str, tiles: list[tuple[str, int, int, int]]) -> tuple[float, float, int, int]:
    """p50 of ours and of the floor (alternating), the largest tile and our server's port (kept running)."""
    raw = Raw(url)
    proc, port = serve(url, {"GIS_TILES__MEMORY_CACHE_BYTES": "0"})
    try:
        conn = Client(port)
        for slug, z, x, y in tiles:  # warm both once per tile: plans, connections, the data's pages
            conn.get(f"/tiles/{slug}/{z}/{x}/{y}.mvt", IDENTITY)
            raw(slug, z, x, y)
        ours, floor, largest = [], [], 0
        for round_ in range(ROUNDS):
            for i, (slug, z, x, y) in enumerate(tiles):
                # who goes first alternates: the second of a pair finds the pages the first one read
                pair = [("ours", slug, z, x, y), ("raw", slug, z, x, y)]
                for who, *tile in pair if (i + round_) % 2 == 0 else reversed(pair):
                    if who == "ours":
                        t, size = conn.get("/tiles/{}/{}/{}/{}.mvt".format(*tile), IDENTITY)
                        ours.append(t)
                    else:
                        t, size = raw(*tile)
                        floor.append(t)
                    largest = max(largest, size)
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return median(ours), median(floor), largest, len(ours)


def densest(url: str) -> int:
    """The largest tile of any zoom: the centre tile and its neighbours at every zoom of both layers."""
    from gis_platform.tiles.rules import lonlat_to_tile

    raw = Raw(url)
    largest = 0
    for slug in (POINTS, LINES):
        for z in range(8, 17):
            cx, cy = lonlat_to_tile(*CENTRE, z)
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    largest = max(largest, raw(slug, z, cx + dx, cy + dy)[1])
    return largest


def cached(url: str, tile: tuple[str, int, int, int]) -> tuple[float, float | None]:
    proc, port = serve(url, {})
    path = "/tiles/{}/{}/{}/{}.mvt".format(*tile)
    try:
        conn = Client(port)
        gz = {"Accept-Encoding": "gzip"}
        for _ in range(200):
            conn.get(path, gz)
        times = [conn.get(path, gz)[0] for _ in range(2000)]
        conn.close()
        rps = None
        if shutil.which("wrk"):
            out = subprocess.run(
                ["wrk", "-t2", "-c32", "-d10s", "-H", "Accept-Encoding: gzip", f"http://127.0.0.1:{port}{path}"],
                capture_output=True, text=True, timeout=60, check=True,
            ).stdout  # fmt: skip
            found = re.search(r"Requests/sec:\s+([0-9.]+)", out)
            rps = float(found.group(1)) if found else None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return median(times), rps


def tipg_p50(python: str, url: str, tiles: list[tuple[str, int, int, int]]) -> float:
    import psycopg

    tables = {}
    with psycopg.connect(url) as conn:
        for slug in (POINTS, LINES):
            row = conn.execute(
                "SELECT v.table_name FROM catalogue.layer l JOIN catalogue.layer_version v "
                "ON v.layer_id = l.id AND v.version = l.current_version WHERE l.slug = %s",
                (slug,),
            ).fetchone()
            if row is None:
                raise RuntimeError(f"no layer {slug}")
            tables[slug] = row[0]
    port = free_port()
    env = {"DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["layerdata"]'}
    proc = start(
        [python, "-m", "uvicorn", "tipg.main:app", "--port", str(port), "--log-level", "warning"], port, env
    )
    try:
        conn = Client(port)

        def path(slug: str, z: int, x: int, y: int) -> str:
            return f"/collections/layerdata.{tables[slug]}/tiles/WebMercatorQuad/{z}/{x}/{y}?geom-column=geom_3857"

        for tile in tiles:
            conn.get(path(*tile), IDENTITY)
        times = [conn.get(path(*tile), IDENTITY)[0] for _ in range(ROUNDS) for tile in tiles]
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return median(times)


def main() -> None:
    figures: list[dict[str, Any]] = []
    tiles = tile_list()
    context: dict[str, Any] = {"points": N_POINTS, "lines": N_LINES, "tiles": len(tiles), "rounds": ROUNDS,
                               "zoom_weights": ZOOM_WEIGHTS}  # fmt: skip
    with bench_database("tiles") as url:
        t = time.perf_counter()
        load(url)
        context["load_seconds"] = round(time.perf_counter() - t, 1)
        ours, floor, largest, samples = uncached(url, tiles)
        figures.append(figure("tiles_uncached_p50_vs_raw", ours / floor, "ratio"))
        context |= {"uncached_p50_ms": ours * 1000, "raw_p50_ms": floor * 1000, "samples": samples}
        tipg = tipg_python() if os.environ.get("BENCH_TIPG", "1") == "1" else None
        if tipg:
            try:
                theirs = tipg_p50(tipg, url, tiles)
                figures.append(figure("tiles_uncached_p50_vs_tipg", ours / theirs, "ratio"))
                context["tipg_p50_ms"] = theirs * 1000
            except (RuntimeError, OSError) as exc:
                context["tipg_error"] = str(exc)[:300]
        p50, rps = cached(url, (POINTS, 14, *centre_tile(14)))
        figures.append(figure("tiles_cached_p50_ms", p50 * 1000, "ms"))
        if rps is not None:
            figures.append(figure("tiles_cached_rps", rps, "req/s"))
        figures.append(figure("tiles_max_bytes", max(largest, densest(url)), "bytes"))
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT postgis_lib_version(), current_setting('server_version')").fetchone()
        context |= {"postgis": row[0] if row else None, "postgres": row[1] if row else None}
    write_results("tiles", figures, context)


def centre_tile(z: int) -> tuple[int, int]:
    from gis_platform.tiles.rules import lonlat_to_tile

    return lonlat_to_tile(*CENTRE, z)


if __name__ == "__main__":
    main()
