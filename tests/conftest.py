"""Shared fixtures: a real PostGIS (the private test cluster or TEST_DATABASE_URL), migrated and loaded once.

Every test module that needs data gets its own database cloned from a template, so tests never see
each other's writes; API tests talk to a real uvicorn server over HTTP.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import uvicorn
from psycopg import sql

from gis_platform.admin.loader import load_hcmc
from gis_platform.db import migrate
from gis_platform.db.cluster import LocalCluster
from gis_platform.settings import REPO_ROOT, Settings

SOURCES = REPO_ROOT / "layers" / "sources" / "hcmc"

# The suite's servers make many writes from 127.0.0.1 with one token: rate limits they cannot reach, counted
# in each server's memory (never in a Redis that other servers or concurrent runs share). Settings read these
# under what a test passes; tests/api/test_limits.py sets its own limits.
for _name, _value in {
    "GIS_API__RATE_LIMIT__WRITES_PER_IP": "1000000/minute",
    "GIS_API__RATE_LIMIT__WRITES_PER_BEARER": "1000000/minute",
    "GIS_API__RATE_LIMIT__EXPENSIVE_READS_PER_IP": "1000000/minute",
    "GIS_API__RATE_LIMIT__EXPENSIVE_READS_PER_BEARER": "1000000/minute",
    "GIS_API__RATE_LIMIT__REDIS": "false",
}.items():
    os.environ.setdefault(_name, _value)


def with_database(url: str, name: str) -> str:
    """Return ``url`` pointing at database ``name``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class Server:
    """A PostgreSQL server the tests may create and drop databases on."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def create_database(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            conn.execute(stmt)
        return with_database(self.admin_url, name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _test_data_dir() -> Path:
    # The cluster runs as the unprivileged 'postgres' user, so its directory must be traversable.
    path = Path(os.environ.get("GIS_TEST_DATA_DIR", REPO_ROOT / ".gis-platform" / "test"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """The PostGIS server of the test run: TEST_DATABASE_URL, or a private cluster started here."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield Server(external)
        return
    cluster = LocalCluster(_test_data_dir(), preferred_port=54339)
    cluster.up()
    yield Server(cluster.url("postgres"))
    cluster.down()


@pytest.fixture(scope="session")
def template_db(pg_server: Server) -> Iterator[str]:
    """A database migrated to head with Ho Chi Minh City loaded; returns its name."""
    name = f"gis_tpl_{uuid.uuid4().hex[:8]}"
    url = pg_server.create_database(name)
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        load_hcmc(conn, SOURCES)
    yield name
    pg_server.drop_database(name)


@pytest.fixture
def fresh_db(pg_server: Server) -> Iterator[str]:
    """An empty database (extensions not created) for migration tests; returns its URL."""
    name = f"gis_empty_{uuid.uuid4().hex[:8]}"
    yield pg_server.create_database(name)
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def db_url(pg_server: Server, template_db: str) -> Iterator[str]:
    """A private copy of the loaded template for one test module; returns its URL."""
    name = f"gis_t_{uuid.uuid4().hex[:8]}"
    url = pg_server.create_database(name, template=template_db)
    yield url
    pg_server.drop_database(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The real app under uvicorn on a loopback port, in a background thread."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The stdlib loop, not uvloop: the suite runs dozens of servers, each on an event loop in its own
        # thread of one process; uvloop crashed once (SIGSEGV inside its run loop) in that set-up, which
        # production (one loop per worker process, in its main thread) never uses.
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            loop="asyncio",  # type: ignore[arg-type]
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def make_server() -> Iterator[Callable[..., LiveServer]]:
    """Factory: ``make_server(database_url, **settings_overrides)`` → a started live server."""
    from gis_platform.web.app import create_app

    started: list[LiveServer] = []

    def factory(
        database_url: str, app_hook: Callable[[object], None] | None = None, **overrides: object
    ) -> LiveServer:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        app = create_app(settings, database_url=database_url)
        if app_hook:
            app_hook(app)
        server = LiveServer(app).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def live(make_server: Callable[..., LiveServer], db_url: str) -> LiveServer:
    """The app serving the module's database."""
    return make_server(db_url)


@pytest.fixture(scope="module")
def client(live: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client on the live server."""
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A temporary directory the 'postgres' OS user can traverse (for throw-away clusters)."""
    path = Path(tempfile.mkdtemp(prefix="gis-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)
