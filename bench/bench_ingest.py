"""Ingest benchmark: a 1,000,000-point GeoPackage through the platform's import against the raw floor.

Figures (bench/results/ingest.json):
- ingest_1m_vs_copy: our import (read, validate, COPY, repair, indexes, ANALYZE, publish) / the raw floor
  (the same rows read with pyogrio and COPYed straight into a table by a minimal script, one connection).
- ingest_1m_vs_ogr2ogr: our import / `ogr2ogr -f PostgreSQL` of the same file into the same database.
- ingest_peak_rss_mb: peak RSS of the process running our import.
- catalogue_search_p50_ms: median time of catalogue searches over HTTP with >= 250 layers.
Each contender runs in its own process, alternating, and the medians are compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from common import ROOT, bench_database, figure, median, write_results

N_POINTS = 1_000_000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
DATA = ROOT / ".gis-platform" / "bench-data"
GPKG = DATA / "points_1m.gpkg"
PY = sys.executable


def make_gpkg() -> Path:
    """A deterministic 1M-point GeoPackage of synthetic households in central HCMC (cached)."""
    if GPKG.exists():
        return GPKG
    import geopandas as gpd
    import numpy as np
    import pyogrio
    import shapely

    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20251125)
    frame = gpd.GeoDataFrame(
        {
            "ten_chu_ho": [f"Hộ {i}" for i in range(N_POINTS)],
            "so_nhan_khau": rng.integers(1, 9, N_POINTS),
            "thu_nhap": rng.random(N_POINTS) * 1e7,
        },
        geometry=shapely.points(rng.uniform(106.55, 106.85, N_POINTS), rng.uniform(10.65, 10.90, N_POINTS)),
        crs=4326,
    )
    tmp = GPKG.with_suffix(".tmp.gpkg")
    pyogrio.write_dataframe(frame, tmp, layer="ho_gia_dinh", use_arrow=True)
    tmp.rename(GPKG)
    return GPKG


OURS = """
import json, resource, sys, time
import psycopg
from gis_platform.ingest.service import import_path
url, slug, path = sys.argv[1:4]
with psycopg.connect(url, autocommit=True) as conn:
    t = time.perf_counter()
    info = import_path(conn, slug, path, author="bench", publish=True)
    seconds = time.perf_counter() - t
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "features": info.feature_count}))
"""

FLOOR = """
import io, json, sys, time
import numpy as np, psycopg, pyarrow as pa, pyarrow.csv as pacsv, pyogrio, shapely
url, table, path = sys.argv[1:4]
with psycopg.connect(url, autocommit=True) as conn:
    t = time.perf_counter()
    conn.execute(f"CREATE TABLE {table} (fid bigint, ten_chu_ho text, so_nhan_khau bigint, thu_nhap double precision, "
                 "geom geometry(Point, 4326))")
    meta, tbl = pyogrio.read_arrow(path)
    geoms = shapely.from_wkb(tbl.column(meta["geometry_name"] or "geom").to_numpy(zero_copy_only=False))
    ewkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
    out = pa.table([pa.array(np.arange(len(ewkb))), tbl.column("ten_chu_ho"), tbl.column("so_nhan_khau"),
                    tbl.column("thu_nhap"), pa.array(ewkb)], names=["fid", "a", "b", "c", "geom"])
    buf = io.BytesIO()
    pacsv.write_csv(out, buf, pacsv.WriteOptions(include_header=False))
    with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy:
        copy.write(buf.getbuffer())
    seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds}))
"""


def run_json(argv: list[str]) -> dict[str, float]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def ogr2ogr(url: str, path: Path, table: str) -> float:
    p = urlsplit(url)
    pg = f"PG:host={p.hostname} port={p.port} user={p.username} password={p.password} dbname={p.path[1:]}"
    t = time.perf_counter()
    proc = subprocess.run(["ogr2ogr", "-f", "PostgreSQL", pg, str(path), "-nln", table], capture_output=True,
                          text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"ogr2ogr failed: {proc.stderr[-2000:]}")
    return seconds


def catalogue_search_p50_ms(url: str) -> tuple[float, int]:
    """Median over HTTP of catalogue searches, on the layer manifests (metadata only: >= 250 layers)."""
    import httpx
    import psycopg

    from gis_platform.catalogue.manifest import load_layer_set
    from gis_platform.catalogue.sync import sync_metadata

    with psycopg.connect(url, autocommit=True) as conn:
        sync_metadata(conn, load_layer_set())
        count = conn.execute("SELECT count(*) FROM catalogue.layer").fetchone()[0]  # type: ignore[index]
    sys.path.insert(0, str(ROOT))
    from gis_platform.settings import Settings
    from gis_platform.web.app import create_app
    from tests.conftest import LiveServer

    server = LiveServer(create_app(Settings(), database_url=url)).start()
    queries = ["trường học", "truong hoc", "truong hocc", "chợ", "benh vien", "ngập", "xe buyt", "công viên",
               "cap nuoc", "an ninh"]  # fmt: skip
    timings = []
    try:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(3):  # warm up
                client.get("/catalogue/layers", params={"q": "warm"})
            for _ in range(10):
                for q in queries:
                    t = time.perf_counter()
                    resp = client.get("/catalogue/layers", params={"q": q, "limit": 20})
                    timings.append((time.perf_counter() - t) * 1000)
                    resp.raise_for_status()
    finally:
        server.stop()
    return median(timings), int(count)


def main() -> None:
    path = make_gpkg()
    import psycopg

    from gis_platform.db import migrate

    ours, floor, ogr, rss = [], [], [], []
    with bench_database("bench_ingest") as url:
        migrate.upgrade(url)
        with psycopg.connect(url, autocommit=True) as conn:
            from tests.factories import ensure_layer

            ensure_layer(conn, "bench-households")
        for i in range(ROUNDS):
            floor.append(run_json([PY, "-c", FLOOR, url, f"floor_{i}", str(path)])["seconds"])
            result = run_json([PY, "-c", OURS, url, "bench-households", str(path)])
            if result["features"] != N_POINTS:
                raise RuntimeError(f"imported {result}, expected {N_POINTS} features")
            ours.append(result["seconds"])
            rss.append(result["rss_mb"])
            ogr.append(ogr2ogr(url, path, f"ogr_{i}"))
        search_ms, layers = catalogue_search_p50_ms(url)
    figures = [
        figure("ingest_1m_vs_copy", median(ours) / median(floor), "ratio"),
        figure("ingest_1m_vs_ogr2ogr", median(ours) / median(ogr), "ratio"),
        figure("ingest_peak_rss_mb", max(rss), "MB"),
        figure("catalogue_search_p50_ms", search_ms, "ms"),
        figure("ingest_1m_seconds", median(ours), "s"),
        figure("copy_floor_1m_seconds", median(floor), "s"),
        figure("ogr2ogr_1m_seconds", median(ogr), "s"),
    ]
    write_results("ingest", figures, {"points": N_POINTS, "rounds": ROUNDS, "catalogue_layers": layers})


if __name__ == "__main__":
    main()
