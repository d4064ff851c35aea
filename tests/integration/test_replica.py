"""Read replicas: `db replica up` streams from the primary; reads go to a healthy replica, else the primary."""

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gis_platform.db import migrate
from gis_platform.db.cluster import LocalCluster
from gis_platform.settings import REPO_ROOT

pytestmark = pytest.mark.db

CLI = str(REPO_ROOT / ".venv" / "bin" / "gis-platform")

NEW_VERSION = """
INSERT INTO admin.boundary_version (id, title, level, valid_from, source, licence, attribution)
VALUES ('test', 'test', 'ward', '2026-01-01', 'test', 'MIT', 'test')
"""
NEW_UNIT = """
INSERT INTO admin.admin_unit (boundary_version, code, level, name_vi, name_ascii, valid_from)
VALUES ('test', '99999', 'ward', 'Phường Thử', 'phuong thu', '2026-01-01');
"""


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def replica_up(primary_url: str, data_dir: Path, port: int) -> str:
    """``gis-platform db replica up --from PRIMARY_URL`` as an operator runs it; the replica's URL."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = subprocess.run(
        [CLI, "db", "replica", "up", "--from", primary_url, "--data-dir", str(data_dir), "--port", str(port)],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    replica_url = proc.stdout.strip().splitlines()[-1]
    assert replica_url.startswith("postgresql://") and replica_url != primary_url
    return replica_url


def test_replica_streams_and_reads_fall_back_when_it_lags_or_dies(
    scratch_dir: Path, make_server: Callable[..., Any]
) -> None:
    primary = LocalCluster(scratch_dir / "primary", preferred_port=54389)
    primary.up()
    replica_dir = scratch_dir / "replica"
    try:
        primary_url = primary.url()
        migrate.upgrade(primary_url)
        replica_url = replica_up(primary_url, replica_dir, 54399)
        with psycopg.connect(replica_url, autocommit=True) as rconn:
            assert rconn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)

        server = make_server(
            primary_url,
            database_replica_urls=replica_url,
            db={"replica_max_lag_s": 1.0, "replica_check_interval_s": 0.2},
        )
        with httpx.Client(base_url=server.url, timeout=30) as client:
            health = client.get("/health").json()
            assert health["replicas"][0]["healthy"] is True

            def unit_visible() -> bool:
                resp = client.get("/admin/units", params={"q": "99999", "at": "2026-01-02", "level": "ward"})
                return any(u["code"] == "99999" for u in resp.json()["units"])

            # a fresh commit replayed: the replica's lag is counted from now once replay pauses
            with psycopg.connect(primary_url, autocommit=True) as pconn:
                pconn.execute(NEW_VERSION)
            with psycopg.connect(replica_url, autocommit=True) as rconn:
                version = "SELECT count(*) FROM admin.boundary_version WHERE id = 'test'"
                wait_until(
                    lambda: rconn.execute(version).fetchone() == (1,), 10, "the replica to replay", 0.01
                )
                # pause replay: a write on the primary is not seen by reads served from the replica …
                rconn.execute("SELECT pg_wal_replay_pause()")
            with psycopg.connect(primary_url, autocommit=True) as pconn:
                pconn.execute(NEW_UNIT)
            assert not unit_visible()
            # … until the replica's lag passes the bound: then reads go to the primary and see it
            wait_until(unit_visible, 10, "reads to fall back to the primary")
            assert client.get("/health").json()["replicas"][0]["healthy"] is False

            with psycopg.connect(replica_url, autocommit=True) as rconn:
                rconn.execute("SELECT pg_wal_replay_resume()")
            wait_until(
                lambda: client.get("/health").json()["replicas"][0]["healthy"], 10, "the replica to catch up"
            )

            LocalCluster(replica_dir).down()
            for _ in range(5):
                assert client.get("/admin/units", params={"level": "ward", "limit": 1}).status_code == 200
    finally:
        LocalCluster(replica_dir).down()
        primary.down()
