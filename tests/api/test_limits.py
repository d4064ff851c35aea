"""Request limits: statement timeouts per kind of request, rate limits (429 + Retry-After), body size (413)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from starlette.middleware import Middleware

from gis_platform.settings import Settings
from gis_platform.web.deps import ConnDep
from gis_platform.web.limits import is_expensive_read, timeout_kind
from tests.conftest import LiveServer

pytestmark = pytest.mark.db

PROBLEM = "application/problem+json"


def problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in resp.text and "pg_sleep" not in resp.text
    return body


def _probe_routes(app: Any) -> None:
    """Routes of the test only: the statement timeout a request of each kind gets, and a slow statement."""
    router = APIRouter()

    async def timeout(conn: ConnDep) -> dict[str, str]:
        return {"statement_timeout": await conn.fetchval("SHOW statement_timeout")}

    async def slow(conn: ConnDep, seconds: float = 1.0) -> dict[str, str]:
        await conn.execute("SELECT pg_sleep($1)", seconds)
        return {"slept": "yes"}

    async def cancelled() -> None:
        raise asyncpg.QueryCanceledError("canceling statement due to statement timeout")

    async def tile_timeout(request: Request) -> dict[str, str]:  # the tiles' own pool
        return {
            "statement_timeout": await request.app.state.tiles.connections.fetchval(
                "SHOW statement_timeout", ()
            )
        }

    router.add_api_route("/_probe/cancelled", cancelled)
    router.add_api_route("/_probe/tile-timeout", tile_timeout)
    for prefix in ("/stats/_probe", "/collections/_probe", "/_probe"):
        router.add_api_route(f"{prefix}/timeout", timeout)
        router.add_api_route(f"{prefix}/slow", slow)
    router.add_api_route("/collections/_probe/download", timeout)
    assert isinstance(app, FastAPI)
    before = len(app.router.routes)
    app.include_router(router)
    mine = app.router.routes[before:]
    app.router.routes[:] = [*mine, *app.router.routes[:before]]  # ahead of /collections/{collectionId}/…
    app.user_middleware.append(Middleware(_CancelledInMiddleware))  # innermost, like the tile lane


class _CancelledInMiddleware:
    """A middleware whose statement is cancelled (outside the routes' exception handlers)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_probe/cancelled-in-middleware":
            raise asyncpg.QueryCanceledError("canceling statement due to statement timeout")
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def limited(make_server: Callable[..., LiveServer], db_url: str) -> Iterator[httpx.Client]:
    server = make_server(
        db_url,
        app_hook=_probe_routes,
        db={"stats_statement_timeout_ms": 150, "tiles_statement_timeout_ms": 2500, "features_statement_timeout_ms": 15_000,
            "download_statement_timeout_ms": 120_000, "statement_timeout_ms": 10_000},
        REDIS_URL="",
        ingest={"max_upload_mb": 1},
        api={"max_body_kb": 1, "rate_limit": {
            "writes_per_ip": "5/minute", "writes_per_bearer": "2/minute",
            "expensive_reads_per_ip": "3/minute", "expensive_reads_per_bearer": "100/minute"}},
    )  # fmt: skip
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_request_kinds() -> None:
    assert timeout_kind("/tiles/a/1/2/3.mvt") == "tiles"
    assert timeout_kind("/collections/a/tiles/WebMercatorQuad/1/2/3") == "tiles"
    assert timeout_kind("/collections/a/download") == "download"
    assert timeout_kind("/collections/a/items") == "features"
    assert timeout_kind("/stats/values") == "stats"
    assert timeout_kind("/catalogue/layers") == "default"
    assert is_expensive_read("/collections/a/items", b"filter=x%3D1", 1000)
    assert is_expensive_read("/collections/a/items", b"limit=5000", 1000)
    assert is_expensive_read("/collections/a/items", b"limit=abc", 1000)
    assert is_expensive_read("/collections/a/items", "limit=²".encode(), 1000)  # not a number: no 500
    assert not is_expensive_read("/collections/a/items", b"limit=10&bbox=1,2,3,4", 1000)
    assert is_expensive_read("/collections/a/download", b"", 1000)
    assert is_expensive_read("/stats/choropleth", b"indicator=x", 1000)
    assert not is_expensive_read("/stats/indicators", b"", 1000)


def test_each_kind_of_request_gets_its_statement_timeout(limited: httpx.Client) -> None:
    expected = {"/stats/_probe": "150ms", "/collections/_probe": "15s", "/_probe": "10s"}
    for prefix, value in expected.items():
        assert limited.get(f"{prefix}/timeout").json() == {"statement_timeout": value}
    assert limited.get("/collections/_probe/download").json() == {"statement_timeout": "2min"}
    assert limited.get("/_probe/tile-timeout").json() == {"statement_timeout": "2500ms"}
    # the pool resets what a request set: the next request of the default kind is back at 10 s
    assert limited.get("/_probe/timeout").json() == {"statement_timeout": "10s"}


def test_a_statement_over_its_timeout_is_a_503_problem(limited: httpx.Client) -> None:
    body = problem(limited.get("/stats/_probe/slow", params={"seconds": 2}), 503)
    assert body["type"] == "/problems/query-timeout" and "too long" in body["detail"]
    assert limited.get("/_probe/slow", params={"seconds": 0.3}).json() == {"slept": "yes"}
    for path in ("/_probe/cancelled", "/_probe/cancelled-in-middleware"):
        assert problem(limited.get(path), 503)["type"] == "/problems/query-timeout"
    assert limited.get("/health").status_code == 200


def test_writes_over_the_limit_per_ip_get_429_with_retry_after(limited: httpx.Client) -> None:
    ip = {"X-Forwarded-For": "198.51.100.7"}  # uvicorn trusts it from loopback (FORWARDED_ALLOW_IPS)
    for _ in range(5):
        assert limited.post("/catalogue/layers", json={}, headers=ip).status_code == 401
    resp = limited.post("/catalogue/layers", json={}, headers=ip)
    body = problem(resp, 429)
    assert 1 <= int(resp.headers["retry-after"]) <= 60 and body["retry_after"] == int(
        resp.headers["retry-after"]
    )
    assert limited.delete("/catalogue/layers/x", headers=ip).status_code == 429
    assert limited.get("/catalogue/layers", headers=ip).status_code == 200  # cheap reads are not limited
    other = {"X-Forwarded-For": "198.51.100.8"}
    assert limited.post("/catalogue/layers", json={}, headers=other).status_code == 401


def test_writes_over_the_limit_per_token(limited: httpx.Client) -> None:
    def post(token: str, ip: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": ip}
        return limited.post("/catalogue/layers", json={}, headers=headers)

    assert post("token-a", "203.0.113.1").status_code == 401
    assert post("token-a", "203.0.113.2").status_code == 401
    problem(post("token-a", "203.0.113.3"), 429)  # a third IP, the same token
    assert post("token-b", "203.0.113.3").status_code == 401


def test_expensive_reads_are_limited_cheap_ones_not(limited: httpx.Client) -> None:
    ip = {"X-Forwarded-For": "192.0.2.50"}
    for _ in range(3):
        assert limited.get("/stats/choropleth", params={"indicator": "nope"}, headers=ip).status_code < 500
    problem(limited.get("/stats/values", params={"indicator": "nope"}, headers=ip), 429)
    problem(limited.get("/collections/x/items", params={"limit": "5000"}, headers=ip), 429)
    for _ in range(5):
        assert limited.get("/stats/indicators", headers=ip).status_code == 200
        assert limited.get("/collections/x/items", params={"limit": "10"}, headers=ip).status_code == 404


def test_forwarded_for_is_ignored_from_untrusted_peers(db_url: str) -> None:
    from gis_platform.web.app import create_app

    settings = Settings(api={"rate_limit": {"writes_per_ip": "2/minute"}})  # type: ignore[arg-type]
    server = LiveServer(create_app(settings, database_url=db_url))
    server.server.config.forwarded_allow_ips = "10.255.255.1"  # not us: X-Forwarded-For is not believed
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            codes = [
                client.post(
                    "/catalogue/layers", json={}, headers={"X-Forwarded-For": f"192.0.2.{i}"}
                ).status_code
                for i in range(3)
            ]
    finally:
        server.stop()
    assert codes == [401, 401, 429]


def test_bodies_over_the_limit_get_413(limited: httpx.Client) -> None:
    ip = {"X-Forwarded-For": "192.0.2.99"}
    body = problem(limited.post("/catalogue/layers", content=b"{" + b" " * 4000 + b"}", headers=ip), 413)
    assert body["limit_bytes"] == 1024

    def chunks() -> Iterator[bytes]:  # streamed: no Content-Length, the limit is found while reading
        yield b'{"slug": "'
        for _ in range(10):
            yield b"x" * 500

    ip = {"X-Forwarded-For": "192.0.2.98", "Content-Type": "application/json"}
    problem(limited.post("/catalogue/layers", content=chunks(), headers=ip), 413)
    problem(limited.request("GET", "/catalogue/layers", content=b"x" * 5000), 413)
    # uploads keep their own limit (ingest.max_upload_mb): 100 KB is refused for the token, not the size
    files = {"file": ("a.geojson", b" " * 100_000)}
    ip = {"X-Forwarded-For": "192.0.2.97"}
    assert limited.post("/catalogue/layers/x/versions", files=files, headers=ip).status_code == 401
    # over it: the upload routes' own problem (limit_mb), found before the body is read
    files = {"file": ("a.geojson", b" " * 1_200_000)}
    body = problem(limited.post("/catalogue/layers/x/versions", files=files, headers=ip), 413)
    assert body["type"] == "/problems/upload-too-large" and body["limit_mb"] == 1
    assert limited.get("/health").status_code == 200


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.3):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_workers_share_their_counters_through_redis(
    make_server: Callable[..., LiveServer], db_url: str
) -> None:
    prefix = f"test-rl-{uuid.uuid4().hex[:8]}"  # this test's own keys: no other server or run counts here
    conf = {"rate_limit": {"redis": True, "redis_prefix": prefix, "writes_per_ip": "3/minute"}}
    one, two = (make_server(db_url, REDIS_URL="redis://127.0.0.1:6379/0", api=conf) for _ in range(2))
    ip = {"X-Forwarded-For": "198.51.100.77"}
    codes = [httpx.post(f"{s.url}/catalogue/layers", json={}, headers=ip, timeout=30).status_code
             for s in (one, two, one, two)]  # fmt: skip
    assert codes == [401, 401, 401, 429]
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    keys = list(client.scan_iter(match=f"{prefix}*"))
    assert keys
    client.delete(*keys)
