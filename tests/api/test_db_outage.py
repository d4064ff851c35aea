"""With the database stopped the API answers 503 problems, and recovers by itself when it returns."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gis_platform.db import migrate
from gis_platform.db.cluster import LocalCluster

pytestmark = pytest.mark.db


def test_health_is_503_while_the_database_is_down_and_recovers(
    scratch_dir: Path, make_server: Callable[..., Any]
) -> None:
    cluster = LocalCluster(scratch_dir / "state", preferred_port=54369)
    cluster.up()
    try:
        url = cluster.url()
        migrate.upgrade(url)
        server = make_server(url)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/health").status_code == 200
            cluster.down()
            down = client.get("/health")
            assert down.status_code == 503
            assert down.headers["content-type"].startswith("application/problem+json")
            assert down.json()["title"] == "Database unavailable"
            assert "Traceback" not in down.text
            cluster.up()
            back_at = time.monotonic()
            while client.get("/health").status_code != 200:
                assert time.monotonic() - back_at < 5, "the app did not recover within 5 s"
                time.sleep(0.1)
    finally:
        cluster.down()
