"""Fixtures of the ingest tests: a database connection, layers with a published version, settings."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from gis_platform.auth.tokens import create_token
from gis_platform.ingest.service import import_frame
from gis_platform.settings import IngestSettings, get_settings
from tests.conftest import LiveServer
from tests.factories import ensure_layer, point_frame


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    path = tmp_path / "staging"
    path.mkdir()
    return path


@pytest.fixture
def settings(staging: Path) -> IngestSettings:
    return IngestSettings(staging_dir=staging, max_upload_mb=8, max_uncompressed_mb=64)


def published_layer(
    conn: psycopg.Connection[Any], slug: str, geometry_type: str = "Point", n: int = 3
) -> int:
    """A layer with version 1 published (``n`` points), so a failed import can be seen to change nothing."""
    ensure_layer(conn, slug, geometry_type)
    row = conn.execute("SELECT current_version FROM catalogue.layer WHERE slug = %s", (slug,)).fetchone()
    if row and row[0] is None:
        import_frame(conn, slug, point_frame(n), author="fixture", publish=True)
    return n


def view_count(conn: psycopg.Connection[Any], slug: str) -> int:
    row = conn.execute(f'SELECT count(*) FROM layerdata."{slug}"').fetchone()  # noqa: S608 - test-owned slug
    assert row is not None
    return int(row[0])


def current_version(conn: psycopg.Connection[Any], slug: str) -> int | None:
    row = conn.execute("SELECT current_version FROM catalogue.layer WHERE slug = %s", (slug,)).fetchone()
    assert row is not None
    return None if row[0] is None else int(row[0])


# --- HTTP and CLI harness ------------------------------------------------------------------------------

UPLOAD_LIMIT_MB = 4


def make_token(conn: psycopg.Connection[Any], role: str = "editor", name: str = "test") -> str:
    token, _ = create_token(conn, name=f"{name}-{role}", role=role)
    return token


@pytest.fixture(scope="module")
def api_staging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api-staging")


@pytest.fixture(scope="module")
def server(make_server: Callable[..., LiveServer], db_url: str, api_staging: Path) -> LiveServer:
    from gis_platform.ingest.router import router

    return make_server(
        db_url,
        app_hook=lambda app: app.include_router(router),
        ingest={"staging_dir": api_staging, "max_upload_mb": UPLOAD_LIMIT_MB, "max_uncompressed_mb": 64},
    )


@pytest.fixture(scope="module")
def editor_token(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as c:
        return make_token(c, "editor", "module")


@pytest.fixture(scope="module")
def api(server: LiveServer, editor_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {editor_token}"}
    ) as c:
        yield c


def wait_job(client: httpx.Client, href: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(href)
        assert job.status_code == 200, job.text
        body: dict[str, Any] = job.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def upload(
    client: httpx.Client, slug: str, content: bytes | Path, filename: str | None = None, **form: Any
) -> tuple[int, dict[str, Any], httpx.Response]:
    """POST a file; follow the job. Returns (status, body, response): the problem of a 4xx answer or of a
    failed job (with its 4xx status), or the finished job with 200."""
    if isinstance(content, Path):
        filename = filename or content.name
        content = content.read_bytes()
    data = {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in form.items()}
    r = client.post(
        f"/catalogue/layers/{slug}/versions", files={"file": (filename or "upload", content)}, data=data
    )
    if r.status_code != 202:
        return r.status_code, r.json(), r
    body = r.json()
    assert r.headers["location"] == f"/jobs/{body['job']['id']}"
    monitor = next(link["href"] for link in body["links"] if link["rel"] == "monitor")
    job = wait_job(client, monitor)
    if job["status"] == "failed":
        return int(job["error"]["status"]), job["error"] | {"job": job}, r
    return 200, job, r


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str, staging: Path) -> Iterator[Callable[..., Any]]:
    """Run a Typer app with the test database (DATABASE_URL) and staging dir."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GIS_INGEST__STAGING_DIR", str(staging))
    get_settings.cache_clear()
    runner = CliRunner()

    def run(app: Any, *args: str) -> Any:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    yield run
    get_settings.cache_clear()


def no_temp_files(staging: Path) -> bool:
    return not any(staging.iterdir())


@pytest.fixture
def layer(conn: psycopg.Connection[Any], request: pytest.FixtureRequest) -> str:
    """A fresh layer with version 1 (3 points) published, named after the test."""
    name: str = request.node.name
    slug = "bad-" + name.removeprefix("test_").replace("_", "-")[:50]
    published_layer(conn, slug)
    return slug
