"""Load benchmark: 200 concurrent clients for 60 s on loopback against the real server, mixing reads.

Figures (bench/results/load.json):
- load_5xx: answers with a 5xx status (must be 0), counted exactly by wrk's Lua ``response`` hook.
- load_p99_ms: the 99th percentile latency over every request (wrk's histogram, client side).
- load_rps: requests answered per second.
- load_429: answers throttled by the rate limits (for information).

Set-up: a database of its own on the private bench cluster (or BENCH_DATABASE_URL) with a point layer
(BENCH_LOAD_POINTS, 200,000), a line layer (BENCH_LOAD_LINES, 50,000) and 30 small layers with Vietnamese
titles for the catalogue search; ``gis-platform serve`` (one worker, its default pools and caches, no Redis)
serves it. ``wrk -t2 -c200 -d<BENCH_LOAD_SECONDS>s`` then cycles through a fixed, shuffled list of requests:
50% vector tiles of both layers at zooms 10-16 around the centre, 30% items pages (bbox, limit, a CQL2 filter
on some), 20% catalogue searches of Vietnamese words written without diacritics. The expensive-read rate
limits are raised for the run (one client IP sends everything, as no real client would); writes keep theirs.
Everything stops by itself: wrk after its duration, the server when wrk is done.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
from bench_features import free_port, stop
from common import ROOT, bench_database, figure, write_results

SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "60"))
CLIENTS = int(os.environ.get("BENCH_LOAD_CLIENTS", "200"))
N_POINTS = int(os.environ.get("BENCH_LOAD_POINTS", "200000"))
N_LINES = int(os.environ.get("BENCH_LOAD_LINES", "50000"))
N_REQUESTS = 6000  # distinct requests in the cycle
POINTS, LINES = "load-points", "load-lines"
CENTRE = (106.70, 10.78)
HCMC = (106.35, 10.35, 107.05, 11.15)
TITLES = [
    "Trường mầm non", "Trường tiểu học", "Trường trung học cơ sở", "Bệnh viện", "Trạm y tế phường",
    "Nhà thuốc", "Chợ truyền thống", "Siêu thị", "Công viên", "Vườn hoa", "Trạm xe buýt", "Bến xe",
    "Đường giao thông", "Cầu", "Kênh rạch", "Ao hồ", "Điểm thu gom rác", "Trạm cấp nước", "Trụ cứu hỏa",
    "Đồn công an", "Ủy ban nhân dân phường", "Nhà văn hóa", "Thư viện", "Sân thể thao", "Chùa", "Nhà thờ",
    "Khu dân cư", "Tổ dân phố", "Điểm ngập nước", "Camera giao thông",
]  # fmt: skip
SEARCHES = ["truong", "truong hoc", "benh vien", "tram y te", "cho", "cong vien", "xe buyt", "duong", "cau",
            "kenh", "rac", "nuoc", "cong an", "uy ban", "van hoa", "thu vien", "the thao", "chua", "dan cu",
            "ngap", "camera", "nha thuoc", "sieu thi", "mam non"]  # fmt: skip
FILTERS = ["kind = 'a'", "value > 900", "kind = 'b' AND score < 0.1", "name LIKE 'Điểm 12%'"]


def load(url: str) -> None:
    import geopandas as gpd
    import psycopg
    import shapely

    from gis_platform.db import migrate
    from gis_platform.ingest.service import import_frame
    from tests.factories import ensure_layer, point_frame

    migrate.upgrade(url)
    rng = np.random.default_rng(42)
    k = int(N_POINTS * 0.6)  # 60% within a few km of the centre, the rest over the city
    xs = np.concatenate([rng.normal(CENTRE[0], 0.03, k), rng.uniform(HCMC[0], HCMC[2], N_POINTS - k)])
    ys = np.concatenate([rng.normal(CENTRE[1], 0.03, k), rng.uniform(HCMC[1], HCMC[3], N_POINTS - k)])
    points = gpd.GeoDataFrame(
        {"name": [f"Điểm {i}" for i in range(N_POINTS)], "kind": rng.choice(["a", "b", "c"], N_POINTS),
         "value": rng.integers(0, 1000, N_POINTS), "score": rng.random(N_POINTS)},
        geometry=shapely.points(np.clip(xs, HCMC[0], HCMC[2]), np.clip(ys, HCMC[1], HCMC[3])), crs=4326,
    )  # fmt: skip
    starts = np.stack([rng.normal(CENTRE[0], 0.05, N_LINES), rng.normal(CENTRE[1], 0.05, N_LINES)], axis=1)
    coords = starts[:, None, :] + np.concatenate(
        [np.zeros((N_LINES, 1, 2)), rng.normal(0, 0.0015, (N_LINES, 3, 2)).cumsum(axis=1)], axis=1
    )
    lines = gpd.GeoDataFrame(
        {"name": [f"Đường {i}" for i in range(N_LINES)], "lanes": rng.integers(1, 6, N_LINES)},
        geometry=shapely.linestrings(coords), crs=4326,
    )  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        for slug, frame, kind in ((POINTS, points, "Point"), (LINES, lines, "LineString")):
            ensure_layer(conn, slug, kind, title_vi=f"Lớp {slug}")
            import_frame(conn, slug, frame, author="bench", publish=True)
        for i, title in enumerate(TITLES):
            slug = f"load-search-{i:02d}"
            ensure_layer(conn, slug, "Point", title_vi=title, title_en=f"Layer {i}")
            import_frame(conn, slug, point_frame(10, seed=i), author="bench", publish=True)
        conn.execute("VACUUM ANALYZE")


def requests(seed: int = 7) -> list[str]:
    """The request cycle: tiles, items pages and catalogue searches, shuffled."""
    from gis_platform.tiles.rules import lonlat_to_tile

    rng = random.Random(seed)
    paths: list[str] = []
    for i in range(N_REQUESTS):
        kind = rng.random()
        if kind < 0.5:
            slug = POINTS if i % 2 == 0 else LINES
            z = rng.choice([10, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16])
            x, y = lonlat_to_tile(rng.gauss(CENTRE[0], 0.04), rng.gauss(CENTRE[1], 0.04), z)
            paths.append(f"/tiles/{slug}/{z}/{x}/{y}.mvt")
        elif kind < 0.8:
            slug = POINTS if rng.random() < 0.7 else LINES
            lon, lat, half = rng.gauss(CENTRE[0], 0.04), rng.gauss(CENTRE[1], 0.04), rng.uniform(0.002, 0.02)
            query: dict[str, Any] = {
                "bbox": f"{lon - half:.5f},{lat - half:.5f},{lon + half:.5f},{lat + half:.5f}",
                "limit": rng.choice([10, 50, 100, 100, 200, 500]),
            }
            if slug == POINTS and rng.random() < 0.3:
                query["filter"] = rng.choice(FILTERS)
            paths.append(f"/collections/{slug}/items?{urlencode(query)}")
        else:
            paths.append(f"/catalogue/layers?{urlencode({'q': rng.choice(SEARCHES), 'limit': 20})}")
    return paths


LUA = """
local paths = {%(paths)s}
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 1543)
  table.insert(threads, thread)
end

function init(args)
  i = offset %% #paths
  ok, c4xx, c429, c5xx = 0, 0, 0, 0
end

function request()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "gzip"})
end

function response(status, headers, body)
  if status >= 500 then c5xx = c5xx + 1
  elseif status == 429 then c429 = c429 + 1
  elseif status >= 400 then c4xx = c4xx + 1
  else ok = ok + 1 end
end

function done(summary, latency, requests)
  local t = {ok = 0, c4xx = 0, c429 = 0, c5xx = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  local e = summary.errors
  io.write(string.format(
    'LOAD {"requests": %%d, "duration_us": %%d, "ok": %%d, "c4xx": %%d, "c429": %%d, "c5xx": %%d, ' ..
    '"p50_us": %%d, "p99_us": %%d, "max_us": %%d, "connect_errors": %%d, "read_errors": %%d, ' ..
    '"write_errors": %%d, "timeouts": %%d}\\n',
    summary.requests, summary.duration, t.ok, t.c4xx, t.c429, t.c5xx, latency:percentile(50),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout))
end
"""


def run_wrk(port: int, paths: list[str]) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (make system-deps)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % {"paths": ",\n".join(json.dumps(p) for p in paths)})
    try:
        out = subprocess.run(
            [wrk, "-t2", f"-c{CLIENTS}", f"-d{SECONDS}s", "--timeout", "30s", "-s", script.name,
             f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=SECONDS + 120, check=True,
        ).stdout  # fmt: skip
    finally:
        Path(script.name).unlink()
    line = next(x for x in out.splitlines() if x.startswith("LOAD "))
    result: dict[str, Any] = json.loads(line.removeprefix("LOAD "))
    return result


def serve(url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        "DATABASE_URL": url,
        "REDIS_URL": "",
        "GIS_TILES__DISK_CACHE": "false",
        # one loopback IP sends every request here: the per-client limit on expensive reads would throttle it
        "GIS_API__RATE_LIMIT__EXPENSIVE_READS_PER_IP": "1000000/minute",
        "GIS_API__RATE_LIMIT__EXPENSIVE_READS_PER_BEARER": "1000000/minute",
    }
    cli = str(Path(sys.executable).with_name("gis-platform"))
    log = open(ROOT / ".gis-platform" / "bench-load-server.log", "wb")
    proc = subprocess.Popen(
        [cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"the server did not start (see {log.name})")


def check(port: int, paths: list[str]) -> dict[str, Any]:
    """One client over a sample of the cycle before the load: the codes, and each kind's p50 alone (ms)."""
    codes: dict[str, int] = {}
    times: dict[str, list[float]] = {"tiles": [], "items": [], "search": []}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for path in paths[:600]:
            t = time.perf_counter()
            code = client.get(path).status_code
            kind = "tiles" if path.startswith("/tiles/") else "items" if "/items" in path else "search"
            times[kind].append((time.perf_counter() - t) * 1000)
            codes[str(code)] = codes.get(str(code), 0) + 1
    return {"codes": codes, "p50_ms_alone": {k: round(float(np.median(v)), 2) for k, v in times.items() if v}}


def main() -> None:
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    paths = requests()
    context: dict[str, Any] = {"seconds": SECONDS, "clients": CLIENTS, "points": N_POINTS, "lines": N_LINES,
                               "distinct_requests": len(paths), "mix": "50% tiles, 30% items, 20% search",
                               "server": "gis-platform serve --workers 1", "client": "wrk -t2 (Lua)",
                               "rate_limits": "expensive reads raised to 1000000/minute for the run"}  # fmt: skip
    with bench_database("load") as url:
        t = time.perf_counter()
        load(url)
        context["load_seconds"] = round(time.perf_counter() - t, 1)
        proc, port = serve(url)
        try:
            context["one_client"] = check(port, paths)
            result = run_wrk(port, paths)
        finally:
            stop(proc)
    seconds = result["duration_us"] / 1e6
    context |= {k: result[k] for k in ("requests", "ok", "c4xx", "connect_errors", "read_errors",
                                        "write_errors", "timeouts")}  # fmt: skip
    context |= {"p50_ms": result["p50_us"] / 1000, "max_ms": result["max_us"] / 1000}
    figures = [
        figure("load_5xx", int(result["c5xx"]), "responses"),
        figure("load_p99_ms", result["p99_us"] / 1000, "ms"),
        figure("load_rps", result["requests"] / seconds, "req/s"),
        figure("load_429", int(result["c429"]), "responses"),
    ]
    write_results("load", figures, context)


if __name__ == "__main__":
    main()
