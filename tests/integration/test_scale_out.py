"""Many workers, one truth: real `gis-platform serve` processes on a primary, a streaming replica and Redis.

Two single-worker processes (A and B, each on its own port, so each is addressable) share a primary, a
streaming replica made by `db replica up` and the Redis tile tier: reads hit the replica, a publish
through A reaches B within a second, stopping the replica sends reads to the primary without a 5xx, and
a worker killed and restarted serves its tiles from Redis. One short test starts `serve --workers 2`.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from gis_platform.auth.tokens import create_token
from gis_platform.db import migrate
from gis_platform.db.cluster import LocalCluster
from gis_platform.ingest.service import import_frame
from tests.conftest import free_port
from tests.factories import ensure_layer, point_frame
from tests.integration.test_replica import CLI, replica_up, wait_until

pytestmark = pytest.mark.db

SLUG = "scale-points"
TILES = [(12, 3262, 1924), (12, 3261, 1924), (13, 6524, 3849), (13, 6522, 3849), (14, 13048, 7698)]
CENTRE_TILE = TILES[0]  # holds points of both versions


@dataclass
class Worker:
    """One `gis-platform serve` process on its own loopback port."""

    env: dict[str, str]
    cwd: Path
    port: int
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Worker:
        log = (self.cwd / f"worker-{self.port}.log").open("ab")
        cmd = [CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)]
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        # generous: starting a worker is ~3 s of imports, much more on a machine shared with other builds
        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_tail()
            try:
                return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout, f"worker on port {self.port}", step=0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def log_tail(self) -> str:
        path = self.cwd / f"worker-{self.port}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@dataclass
class Deployment:
    primary_url: str
    replica_url: str
    replica_dir: Path
    redis: redis.Redis
    prefix: str
    token: str
    a: Worker
    b: Worker
    env: dict[str, str]
    root: Path


def _redis_url(root: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    """The Redis on 127.0.0.1:6379 when it answers, else one started here (no persistence)."""
    try:
        if redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1).ping():
            return "redis://127.0.0.1:6379/0", None
    except (redis.RedisError, OSError):
        pass
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("no Redis on 127.0.0.1:6379 and no redis-server to start")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(root), "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with socket.socket() as s:
        wait_until(lambda: s.connect_ex(("127.0.0.1", port)) == 0, 10, "redis-server")
    return f"redis://127.0.0.1:{port}/0", proc


def _load(primary_url: str) -> str:
    """Version 1 of the layer published, version 2 loaded; an editor token."""
    migrate.upgrade(primary_url)
    with psycopg.connect(primary_url, autocommit=True) as conn:
        ensure_layer(conn, SLUG, "Point")
        import_frame(conn, SLUG, point_frame(400, seed=1), author="test", publish=True)
        import_frame(conn, SLUG, point_frame(400, seed=2), author="test", publish=False)
        token, _ = create_token(conn, name="scale-editor", role="editor")
    return token


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    root = Path(tempfile.mkdtemp(prefix="gis-scale-", dir="/tmp"))
    root.chmod(0o755)  # the clusters run as the 'postgres' OS user
    primary = LocalCluster(root / "primary", preferred_port=54419)
    replica_dir = root / "replica"
    workers: list[Worker] = []
    redis_proc: subprocess.Popen[bytes] | None = None
    client: redis.Redis | None = None
    prefix = f"test-scale-{uuid.uuid4().hex[:8]}:"
    try:
        primary.up()
        primary_url = primary.url()
        token = _load(primary_url)
        replica_url = replica_up(primary_url, replica_dir, 54429)
        redis_url, redis_proc = _redis_url(root)
        client = redis.Redis.from_url(redis_url)
        base = {
            k: v for k, v in os.environ.items() if not k.startswith("GIS_") and k not in ("DATABASE_URL",)
        }
        env = (
            base
            | {
                "DATABASE_URL": primary_url,
                "DATABASE_REPLICA_URLS": replica_url,
                "REDIS_URL": redis_url,
                "GIS_TILES__REDIS_PREFIX": prefix,
                "GIS_TILES__DISK_CACHE": "false",  # memory + Redis: a restarted worker can only find tiles in Redis
                "GIS_DB__REPLICA_CHECK_INTERVAL_S": "0.2",
                "GIS_DB__REPLICA_MAX_LAG_S": "2",
                "GIS_INGEST__STAGING_DIR": str(root / "staging"),
            }
        )
        a = Worker(env, root, free_port()).start()
        b = Worker(env, root, free_port()).start()
        workers += [a, b]
        a.wait_ready()
        b.wait_ready()
        yield Deployment(primary_url, replica_url, replica_dir, client, prefix, token, a, b, env, root)
    finally:
        for worker in workers:
            worker.stop()
        if client is not None:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
        LocalCluster(replica_dir).down()
        primary.down()
        shutil.rmtree(root, ignore_errors=True)


def _tile(base: str, z: int, x: int, y: int, version: int | None = None) -> httpx.Response:
    segment = f"v{version}/" if version is not None else ""
    return httpx.get(f"{base}/tiles/{SLUG}/{segment}{z}/{x}/{y}.mvt", timeout=10)


def _activity(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def _health(worker: Worker) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{worker.url}/health", timeout=5).json()
    return body


def test_reads_go_to_the_replica(deployment: Deployment) -> None:
    d = deployment
    for worker in (d.a, d.b):
        health = _health(worker)
        assert health["replicas"][0]["healthy"] is True
        assert health["worker"]["events_listening"] is True
    pids = {_health(d.a)["worker"]["pid"], _health(d.b)["worker"]["pid"]}
    assert len(pids) == 2
    for z, x, y in TILES:
        assert _tile(d.a.url, z, x, y).status_code in (200, 204)
    assert httpx.get(f"{d.a.url}/catalogue/layers/{SLUG}", timeout=10).json()["current_version"] == 1
    items = httpx.get(f"{d.a.url}/collections/{SLUG}/items", params={"limit": 5}, timeout=10)
    assert items.status_code == 200 and len(items.json()["features"]) == 5

    on_replica = _activity(d.replica_url)
    on_primary = _activity(d.primary_url)
    # tile statements and feature pages run on their own pools, on the replica only
    for pool in ("gis_platform_tiles", "gis_platform_features"):
        assert any(app == pool for app, _ in on_replica), on_replica
        assert not any(app == pool for app, _ in on_primary), on_primary
    # each worker has one LISTEN connection, on the primary (the tile catalogue listens through it)
    listening = [app for app, q in on_primary if q.startswith("LISTEN")]
    assert listening == ["gis_events", "gis_events"], on_primary

    # catalogue reads are served by the replica's API pool of each worker (its per-pool counter)
    before = [_health(w)["replicas"][0]["reads"] for w in (d.a, d.b)]
    for worker in (d.a, d.b):
        assert httpx.get(f"{worker.url}/catalogue/layers", timeout=10).status_code == 200
        assert httpx.get(f"{worker.url}/catalogue/layers/{SLUG}", timeout=10).status_code == 200
    after = [_health(w)["replicas"][0]["reads"] for w in (d.a, d.b)]
    assert all(n >= m + 2 for m, n in zip(before, after, strict=True)), (before, after)


def _tag(resp: httpx.Response) -> str:
    """The tile's ETag without its representation suffix (gzip or not, one tile has one tag)."""
    return resp.headers["etag"].strip('"').removesuffix("-gz")


def _serves_version(worker: Worker, version: int, etags: dict[int, str]) -> bool:
    base = worker.url
    tilejson = httpx.get(f"{base}/tiles/{SLUG}.json", timeout=5).json()
    entry = httpx.get(f"{base}/catalogue/layers/{SLUG}", timeout=5).json()
    tile = _tile(base, *CENTRE_TILE)
    return bool(
        tilejson["version"] == f"{SLUG}@{version}"
        and entry["current_version"] == version
        and _tag(tile) == etags[version]
    )


def _switch_and_time(
    by: Worker, seen_by: Worker, path: str, token: str, version: int, etags: dict[int, str]
) -> float:
    resp = httpx.post(f"{by.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    committed = time.monotonic()  # the publish transaction committed before the answer
    if version not in etags:  # a version's URL serves once the worker has heard it is published
        wait_until(lambda: _tile(by.url, *CENTRE_TILE, version=version).status_code == 200, 5, "v2", 0.01)
        etags[version] = _tag(_tile(by.url, *CENTRE_TILE, version=version))
    while not _serves_version(seen_by, version, etags):
        assert time.monotonic() - committed < 5, "the other worker never served the new version"
        time.sleep(0.01)
    elapsed = time.monotonic() - committed
    # from then on the superseded version is gone from the unversioned URLs, TileJSON and catalogue
    until = time.monotonic() + 0.5
    while time.monotonic() < until:
        assert _serves_version(seen_by, version, etags)
    return elapsed


def test_a_publish_through_one_worker_reaches_the_other_within_a_second(deployment: Deployment) -> None:
    d = deployment
    # the immutable, versioned tiles name each version's ETag
    etags = {1: _tag(_tile(d.a.url, *CENTRE_TILE, version=1))}
    for worker in (d.a, d.b):  # both hold version 1 in memory (resolved layer and tile)
        assert _serves_version(worker, 1, etags)

    publish = f"/catalogue/layers/{SLUG}/versions/2/publish"
    assert _switch_and_time(d.a, d.b, publish, d.token, 2, etags) < 1.0
    assert etags[1] != etags[2]
    rollback = f"/catalogue/layers/{SLUG}/rollback?to=1"
    assert _switch_and_time(d.b, d.a, rollback, d.token, 1, etags) < 1.0
    assert _serves_version(d.b, 1, etags)


def test_stopping_the_replica_sends_reads_to_the_primary_without_5xx(deployment: Deployment) -> None:
    d = deployment
    LocalCluster(d.replica_dir).down()
    statuses: list[int] = []
    for i in range(3):
        for worker in (d.a, d.b):
            statuses.append(
                _tile(worker.url, 15, 26090 + i, 15390 + i).status_code
            )  # new tiles: their SQL runs
            statuses.append(httpx.get(f"{worker.url}/catalogue/layers/{SLUG}", timeout=10).status_code)
            statuses.append(
                httpx.get(
                    f"{worker.url}/collections/{SLUG}/items", params={"limit": 3}, timeout=10
                ).status_code
            )
    assert all(s < 500 for s in statuses), statuses
    for worker in (d.a, d.b):
        assert _health(worker)["replicas"][0]["healthy"] is False


def test_a_restarted_worker_serves_its_tiles_from_redis(deployment: Deployment) -> None:
    d = deployment
    bodies = {t: _tile(d.a.url, *t).content for t in TILES}
    assert all(bodies.values())

    def stored(z: int, x: int, y: int) -> bool:
        return any(d.redis.scan_iter(match=f"{d.prefix}{SLUG}@1.*/{z}/{x}/{y}"))

    wait_until(lambda: all(stored(*t) for t in TILES), 5, "the tiles in Redis")
    d.a.stop(signal.SIGKILL)
    d.a.start().wait_ready()
    before = _health(d.a)["worker"]["tiles"]
    assert before["sql_executions"] == 0
    for tile, body in bodies.items():
        resp = _tile(d.a.url, *tile)
        assert resp.status_code in (200, 204) and resp.content == body
    after = _health(d.a)["worker"]["tiles"]
    assert after["sql_executions"] == 0, after
    assert after["redis_hits"] >= len(TILES), after


def test_serve_with_two_workers_starts_and_serves(deployment: Deployment) -> None:
    d = deployment
    pool = Worker(d.env, d.root, free_port(), workers=2).start()
    try:
        pool.wait_ready()
        assert pool.proc is not None
        children = Path(f"/proc/{pool.proc.pid}/task/{pool.proc.pid}/children").read_text().split()
        assert len(children) >= 2, children
        seen = set()
        for _ in range(20):
            with httpx.Client(base_url=pool.url, timeout=5) as client:  # a new connection each time
                seen.add(client.get("/health").json()["worker"]["pid"])
                assert client.get(f"/tiles/{SLUG}/{'/'.join(map(str, CENTRE_TILE))}.mvt").status_code == 200
        assert seen <= {int(c) for c in children}
        # each worker listens on a socket of its own (SO_REUSEPORT): the kernel spreads connections by
        # hash; one shared socket went to whichever worker woke first (wrk's 16 connections: 16/0, 15/1)
        assert len(_listening_sockets(pool.port)) == 2
        # 16 keep-alive connections opened at once (a proxy's upstream pool): both workers get a share
        clients = [http.client.HTTPConnection("127.0.0.1", pool.port, timeout=10) for _ in range(16)]
        for client in clients:
            client.connect()
        pids = []
        for client in clients:
            client.request("GET", "/health")
            pids.append(json.loads(client.getresponse().read())["worker"]["pid"])
            client.close()
        assert len(set(pids)) == 2 and max(pids.count(pid) for pid in set(pids)) <= 14, pids
        # a second server on the same port is refused, not silently given half of the connections
        other = subprocess.run(
            [CLI, "serve", "--host", "127.0.0.1", "--port", str(pool.port), "--workers", "2"],
            env=d.env, cwd=d.root, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert other.returncode != 0 and "Address already in use" in other.stdout + other.stderr
    finally:
        pool.stop()
    assert pool.proc is not None and pool.proc.returncode == 0, pool.log_tail()


def _listening_sockets(port: int) -> set[str]:
    """Inodes of the IPv4 TCP sockets listening on ``port`` (``/proc/net/tcp``, state 0A)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(fields[9])
    return inodes
