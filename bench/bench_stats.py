"""Statistics benchmark: layer aggregates of a 1,000,000-point layer, choropleths, joined tiles.

Figures (bench/results/stats.json):
- aggregate_1m_s: wall time of ``stats aggregate`` (``aggregate(conn, [slug], force=True)``) for the
  1,000,000-point layer ``dan-cu-ho-gia-dinh`` (generated as ``layers sync --large`` does) over every unit
  with a polygon: the 168 and 273 wards, districts, both cities and both neighbourhood versions (median of
  ``BENCH_AGG_ROUNDS``); the unit pieces are cut beforehand (once per boundary load, not per layer).
- aggregate_vs_sql: aggregate_1m_s / the time of one hand-written statement computing the same counts (a
  GROUP BY over ``ST_Intersects`` of the units' own polygons and the points, same units); runs alternate.
- choropleth_p50_ms: p50 of ``GET /stats/choropleth?indicator=population_density&level=ward`` through the
  real app over HTTP (one keep-alive client, one uvicorn worker), alternating the 168-ward and the
  273-ward days.
- joined_tiles_vs_plain: from ``bench/stats_joins.py`` (``measure``) when that file exists.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import sys
import time
from typing import Any

from bench_features import free_port, start, stop
from common import ROOT, bench_database, figure, median, percentile, write_results

SLUG = "dan-cu-ho-gia-dinh"
ROUNDS = int(os.environ.get("BENCH_AGG_ROUNDS", "3"))
REQUESTS = int(os.environ.get("BENCH_CHOROPLETH_REQUESTS", "200"))
DAYS = ("2026-01-01", "2025-03-01")
PY = sys.executable

SERVER = """
import sys, uvicorn
from gis_platform.settings import Settings
from gis_platform.web.app import create_app
app = create_app(Settings(), database_url=sys.argv[1])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False, server_header=False)
"""

HAND_SQL = """
SELECT u.id, count(*) AS n
FROM admin.admin_unit u JOIN layerdata."dan-cu-ho-gia-dinh" f ON ST_Intersects(u.geom, f.geom)
WHERE u.level = ANY(%(levels)s) AND u.geom IS NOT NULL
GROUP BY u.id
"""


def load(url: str) -> dict[str, Any]:
    """Migrate, load HCMC and its statistics, generate and publish the 1M-point layer."""
    import psycopg

    from gis_platform.admin.loader import load_hcmc
    from gis_platform.catalogue.manifest import load_layer_set
    from gis_platform.catalogue.sync import sync
    from gis_platform.db import migrate
    from gis_platform.settings import get_settings
    from gis_platform.stats.imports import load_stats_demo

    t = time.perf_counter()
    migrate.upgrade(url)
    sources = get_settings().sources_dir
    with psycopg.connect(url) as conn:
        load_hcmc(conn, sources)
    with psycopg.connect(url) as conn:
        load_stats_demo(conn, sources)
    loaded = time.perf_counter() - t
    with psycopg.connect(url, autocommit=True) as conn:
        report = sync(conn, load_layer_set(), only=[SLUG], include_large=True)
        failed = [r for r in report.layers if r.data == "failed"]
        if failed:
            raise RuntimeError(f"{SLUG} did not load: {failed[0].error}")
        conn.execute("VACUUM ANALYZE")
    return {"load_s": round(loaded, 1), "layer_s": round(time.perf_counter() - t - loaded, 1)}


def aggregates(url: str) -> tuple[float, float, dict[str, Any]]:
    """Median time of our aggregate and of the hand-written statement (alternating), with checks."""
    import psycopg

    from gis_platform.stats.aggregates.compute import aggregate
    from gis_platform.stats.aggregates.queries import LEVELS

    ours: list[float] = []
    hand: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        t = time.perf_counter()
        first = aggregate(conn, [SLUG])  # cuts the unit pieces (once per boundary load) and computes
        first_s = time.perf_counter() - t
        for _ in range(ROUNDS):
            t = time.perf_counter()
            report = aggregate(conn, [SLUG], force=True)
            ours.append(time.perf_counter() - t)
            if report.computed != 1:
                raise RuntimeError(f"the aggregate did not run: {report}")
            conn.execute("SET jit = off")  # as our computation runs
            t = time.perf_counter()
            expected = dict(conn.execute(HAND_SQL, {"levels": list(LEVELS)}).fetchall())
            hand.append(time.perf_counter() - t)
        got = dict(
            conn.execute(
                "SELECT a.unit_id, a.feature_count FROM stats.layer_aggregate a JOIN catalogue.layer_version v "
                "ON v.id = a.layer_version_id JOIN catalogue.layer l ON l.id = v.layer_id WHERE l.slug = %s "
                "AND v.status = 'published'",
                (SLUG,),
            ).fetchall()
        )
    differ = sum(1 for k in expected.keys() | got.keys() if expected.get(k, 0) != got.get(k, 0))
    context = {
        "aggregate_rounds_s": [round(x, 3) for x in ours], "hand_sql_rounds_s": [round(x, 3) for x in hand],
        "first_aggregate_with_pieces_s": round(first_s, 3), "pieces": first.pieces,
        "units_with_points": len(got), "units_differing_from_hand_sql": differ,
        "statement_s": [r.seconds for r in report.results],
    }  # fmt: skip
    return median(ours), median(hand), context


def choropleth(url: str) -> tuple[float, dict[str, Any]]:
    """p50 (ms) of GET /stats/choropleth over HTTP on the real app."""
    port = free_port()
    proc = start([PY, "-c", SERVER, url, str(port)], port, {"REDIS_URL": ""})
    times: list[float] = []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        paths = [f"/stats/choropleth?indicator=population_density&level=ward&at={d}" for d in DAYS]
        for i in range(10 + REQUESTS):
            path = paths[i % len(paths)]
            t = time.perf_counter()
            conn.request("GET", path, headers={"Accept-Encoding": "identity"})
            resp = conn.getresponse()
            body = resp.read()
            elapsed = time.perf_counter() - t
            if resp.status != 200:
                raise RuntimeError(f"{path}: {resp.status} {body[:300]!r}")
            if i >= 10:
                times.append(elapsed * 1000)
        conn.close()
    finally:
        stop(proc)
    return percentile(times, 50), {"choropleth_p90_ms": round(percentile(times, 90), 2), "requests": REQUESTS}


def joins(url: str) -> list[dict[str, Any]]:
    """The joined-tiles figure from bench/stats_joins.py, when it exists."""
    if importlib.util.find_spec("stats_joins") is None:
        return []
    import stats_joins  # type: ignore[import-not-found]

    figures: list[dict[str, Any]] = stats_joins.measure(url)
    return figures


def main() -> None:
    with bench_database("stats") as url:
        context: dict[str, Any] = {"layer": SLUG, "rounds": ROUNDS}
        context.update(load(url))
        ours, hand, agg_context = aggregates(url)
        context.update(agg_context)
        p50, chor_context = choropleth(url)
        context.update(chor_context)
        figures = [
            figure("aggregate_1m_s", ours, "s"),
            figure("aggregate_vs_sql", ours / hand, "ratio"),
            figure("choropleth_p50_ms", p50, "ms"),
        ]
        try:
            figures += joins(url)
        except Exception as exc:  # the joins benchmark is someone else's: record, do not lose ours
            context["joins_error"] = f"{type(exc).__name__}: {exc}"
        write_results("stats", figures, context | {"root": str(ROOT)})


if __name__ == "__main__":
    main()
