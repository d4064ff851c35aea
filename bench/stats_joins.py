"""Joins benchmark: admin-unit tiles with two joined indicators against the same tiles plain, uncached.

Figure:
- joined_tiles_vs_plain: median over tiles of t(joined) / t(plain) (each the tile's median over the rounds) for
  ward tiles at zooms 10-14 of the 168 post-reform wards and the 273 pre-reform (approximate) wards, with
  ``?join=population,households`` (latest periods), every cache tier off. Each joined request is paired with
  the plain request of the same tile, who goes first alternating; both are timed to the last byte by one
  keep-alive client against one server process.

``measure(db_url)`` works on a database with the statistics loaded (``load_stats_demo``) and loads what is
missing (migrations, admin units, statistics, the ward layers); ``python bench/stats_joins.py`` runs it on a
database of its own (the private bench cluster or BENCH_DATABASE_URL) and prints ``joined_tiles_vs_plain = x``.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from common import ROOT, bench_database, figure, median, write_results

ROUNDS = int(os.environ.get("BENCH_JOIN_ROUNDS", "5"))
ZOOMS = (10, 11, 12, 13, 14)
PER_ZOOM = int(os.environ.get("BENCH_JOIN_TILES_PER_ZOOM", "16"))
CENTRE = (106.70, 10.78)
JOIN = "join=population,households"
WARDS = "ranh-gioi-phuong-xa-2025"
IDENTITY = {"Accept-Encoding": "identity"}
#: Details of the last ``measure`` run (p50s, spread, tiles): for a results file's context.
CONTEXT: dict[str, Any] = {}

SERVER = """
import sys, uvicorn
from gis_platform.settings import Settings
from gis_platform.web.app import create_app
from gis_platform.stats.joins import install_joins
app = create_app(Settings(), database_url=sys.argv[1])
install_joins(app)  # idempotent: already there when the app wires it
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False, server_header=False)
"""


def prepare(url: str) -> list[str]:
    """Load what the benchmark needs and is missing; return the ward layers' slugs."""
    import psycopg

    from gis_platform.admin.loader import load_hcmc
    from gis_platform.catalogue import sync
    from gis_platform.catalogue.manifest import load_layer_set
    from gis_platform.db import migrate
    from gis_platform.stats.boundary_layers import publish_boundary_layers
    from gis_platform.stats.imports import load_stats_demo
    from gis_platform.stats.joins import PRE_REFORM_WARDS

    sources = ROOT / "layers" / "sources" / "hcmc"
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        units = conn.execute("SELECT count(*) FROM admin.admin_unit WHERE level = 'ward'").fetchone()
        if not units or not units[0]:
            load_hcmc(conn, sources)
        observations = conn.execute("SELECT count(*) FROM stats.observation").fetchone()
        if not observations or not observations[0]:
            load_stats_demo(conn, sources)
    with psycopg.connect(url, autocommit=True) as conn:
        layer = conn.execute(
            "SELECT current_version FROM catalogue.layer WHERE slug = %s", (WARDS,)
        ).fetchone()
        if layer is None or layer[0] is None:
            sync.sync(conn, load_layer_set(check_sources=False), only=[WARDS])
        publish_boundary_layers(conn, [PRE_REFORM_WARDS])
        conn.execute("ANALYZE")
    return [WARDS, PRE_REFORM_WARDS]


def tile_list(slugs: list[str]) -> list[tuple[str, int, int, int]]:
    """Up to PER_ZOOM tiles per zoom and layer, nearest the centre first (all hold wards)."""
    from gis_platform.tiles.rules import lonlat_to_tile

    tiles: list[tuple[str, int, int, int]] = []
    for z in ZOOMS:
        cx, cy = lonlat_to_tile(*CENTRE, z)
        ring = sorted(
            ((cx + dx, cy + dy) for dx in range(-3, 4) for dy in range(-3, 4)),
            key=lambda t: (t[0] - cx) ** 2 + (t[1] - cy) ** 2,
        )[:PER_ZOOM]
        tiles.extend((slug, z, x, y) for slug in slugs for x, y in ring)
    return tiles


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {
        **os.environ,
        "REDIS_URL": "",
        "GIS_TILES__DISK_CACHE": "false",
        "GIS_TILES__MEMORY_CACHE_BYTES": "0",
    }
    proc = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)], env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server on {port} did not start")


class _Client:
    """A keep-alive HTTP/1.1 client timing requests to the last byte."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> tuple[float, int]:
        t = time.perf_counter()
        self.conn.request("GET", path, headers=IDENTITY)
        resp = self.conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - t
        if resp.status not in (200, 204):
            raise RuntimeError(f"{path}: {resp.status} {body[:300]!r}")
        return elapsed, len(body)


def measure(db_url: str) -> list[dict[str, Any]]:
    """``[figure("joined_tiles_vs_plain", ratio, "ratio")]`` on ``db_url`` (see the module docstring)."""
    slugs = prepare(db_url)
    tiles = tile_list(slugs)
    proc, port = _serve(db_url)
    ratios: list[float] = []  # per pair (one tile, one round)
    plain_t: list[float] = []
    joined_t: list[float] = []
    per_tile: dict[tuple[str, int, int, int], tuple[list[float], list[float]]] = {t: ([], []) for t in tiles}
    try:
        client = _Client(port)
        for slug, z, x, y in tiles:  # warm: plans, connections, pages, the joined values
            client.get(f"/tiles/{slug}/{z}/{x}/{y}.mvt")
            client.get(f"/tiles/{slug}/{z}/{x}/{y}.mvt?{JOIN}")
        for round_ in range(ROUNDS):
            for i, (slug, z, x, y) in enumerate(tiles):
                plain_path = f"/tiles/{slug}/{z}/{x}/{y}.mvt"
                pair = [plain_path, f"{plain_path}?{JOIN}"]
                timed: dict[str, float] = {}
                for path in pair if (i + round_) % 2 == 0 else reversed(pair):
                    timed[path] = client.get(path)[0]
                plain_t.append(timed[pair[0]])
                joined_t.append(timed[pair[1]])
                ratios.append(timed[pair[1]] / timed[pair[0]])
                per_tile[(slug, z, x, y)][0].append(timed[pair[0]])
                per_tile[(slug, z, x, y)][1].append(timed[pair[1]])
        client.conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    CONTEXT.clear()
    CONTEXT.update({
        "tiles": len(tiles), "rounds": ROUNDS, "zooms": list(ZOOMS), "layers": slugs, "join": JOIN,
        "plain_p50_ms": round(median(plain_t) * 1000, 3), "joined_p50_ms": round(median(joined_t) * 1000, 3),
        "ratio_of_p50s": round(median(joined_t) / median(plain_t), 4),
        "pair_ratio_p50": round(median(ratios), 4),
        "pair_ratio_p25": round(statistics.quantiles(ratios, n=4)[0], 4),
        "pair_ratio_p75": round(statistics.quantiles(ratios, n=4)[2], 4),
    })  # fmt: skip
    tile_ratios = [median(j) / median(p) for p, j in per_tile.values()]
    return [figure("joined_tiles_vs_plain", median(tile_ratios), "ratio")]


def main() -> None:
    with bench_database("joins") as url:
        figures = measure(url)
    write_results("stats_joins", figures, CONTEXT)


if __name__ == "__main__":
    main()
