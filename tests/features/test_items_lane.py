"""The items lane answers exactly as the items route: status, headers that matter and body, errors included.

Two servers on one database: the app as the routes serve it, and the app with :class:`ItemsLane`
installed (a subclass that records which requests it answered, to prove the lane served them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest
from starlette.middleware import Middleware
from starlette.types import Message, Receive, Scope, Send

from gis_platform.auth.tokens import create_token, revoke_token
from gis_platform.features.lane import ItemsLane, install_items_lane
from tests.features.conftest import PARCELS, POINTS

pytestmark = pytest.mark.db

SERVED: list[str] = []
HEADERS = (
    "content-type",
    "content-crs",
    "www-authenticate",
    "retry-after",
    "x-request-id",
    "content-encoding",
)
CQL2_JSON = '{"op":"and","args":[{"op":">","args":[{"property":"value"},10]},{"op":"s_intersects","args":[{"property":"geom"},{"bbox":[106.6,10.7,106.8,10.9]}]}]}'


class SpyLane(ItemsLane):
    """The lane, remembering the query strings it answered."""

    async def _serve(self, slug: str, scope: Scope, receive: Receive, send: Send) -> bool:
        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":  # before the client can see the answer
                where = "front" if self.front else "inner"
                SERVED.append(f"{where}:{scope['path']}?{scope['query_string'].decode()}")
            await send(message)

        return await super()._serve(slug, scope, receive, recording_send)


@pytest.fixture(scope="module")
def tokens(layers: str) -> dict[str, str]:
    with psycopg.connect(layers, autocommit=True) as conn:
        viewer, _ = create_token(conn, name="lane-viewer", role="viewer")
        revoked, info = create_token(conn, name="lane-revoked", role="viewer")
        revoke_token(conn, str(info.id))
    return {"viewer": viewer, "revoked": revoked}


def _routes_only(app: Any) -> None:
    """The app minus the lanes create_app installs."""
    app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not ItemsLane]


@contextmanager
def _routed_and_laned(
    make_server: Any, layers: str, lanes: Callable[[Any], None]
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Clients of two servers: the routes alone, and the app with the lanes ``lanes`` installs."""

    def laned_app(app: Any) -> None:
        _routes_only(app)
        lanes(app)

    router_server = make_server(layers, app_hook=_routes_only)
    lane_server = make_server(layers, app_hook=laned_app)
    with (
        httpx.Client(base_url=router_server.url, timeout=60) as routed,
        httpx.Client(base_url=lane_server.url, timeout=60) as laned,
    ):
        yield routed, laned


@pytest.fixture(scope="module")
def pair(make_server: Any, layers: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """The routes alone, and the app with the recording lane innermost."""
    with _routed_and_laned(
        make_server, layers, lambda app: app.user_middleware.append(Middleware(SpyLane))
    ) as p:
        yield p


def _comparable(resp: httpx.Response, base: str) -> tuple[int, dict[str, str], Any]:
    headers = {k: resp.headers[k] for k in HEADERS if k in resp.headers}
    text = resp.text.replace(base, "BASE")
    body: Any = text
    if resp.headers.get("content-type", "").startswith(("application/geo+json", "application/problem+json")):
        body = resp.json() if base not in resp.text else httpx.Response(200, text=text).json()
        if isinstance(body, dict):
            body.pop("timeStamp", None)
    else:
        body = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "T", text)
    return resp.status_code, headers, body


def _both(
    pair: tuple[httpx.Client, httpx.Client],
    path: str,
    params: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, bool]:
    routed, laned = pair
    headers = {"X-Request-ID": "lanetest1", "Accept-Encoding": "identity", **(headers or {})}
    before = len(SERVED)
    a = routed.get(path, params=params, headers=headers)
    b = laned.get(path, params=params, headers=headers)
    assert _comparable(a, str(routed.base_url).rstrip("/")) == _comparable(b, str(laned.base_url).rstrip("/"))
    return b, len(SERVED) > before


ITEMS = f"/collections/{POINTS}/items"
SERVED_CASES: list[tuple[str, Any, int]] = [
    (ITEMS, None, 200),
    (ITEMS, {"limit": 5}, 200),
    (ITEMS, {"limit": 5, "offset": 7}, 200),
    (ITEMS, {"limit": 2500}, 200),  # over one batch: streamed from a cursor
    (ITEMS, {"bbox": "106.6,10.7,106.8,10.9", "limit": 20}, 200),
    (ITEMS, {"bbox": "10.7,106.6,10.9,106.8", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}, 200),
    (ITEMS, {"datetime": "2024-01-01T00:00:00Z/2024-01-03T00:00:00Z", "limit": 100}, 200),
    (ITEMS, [("kind", "a"), ("kind", "b"), ("limit", "3")], 200),
    (ITEMS, {"filter": "value > 10 AND kind = 'a'", "limit": 4}, 200),
    (ITEMS, {"filter": CQL2_JSON, "filter-lang": "cql2-json", "limit": 4}, 200),
    (ITEMS, {"filter": "value < 0"}, 200),
    (ITEMS, {"properties": "kind,value", "sortby": "-value", "limit": 3}, 200),
    (ITEMS, {"crs": "http://www.opengis.net/def/crs/EPSG/0/3857", "limit": 2}, 200),
    (ITEMS, {"f": "json", "limit": 2}, 200),
    (f"/collections/{PARCELS}/items", {"limit": 3, "offset": 3}, 200),
    (ITEMS, {"limit": "0"}, 400),
    (ITEMS, {"limit": "abc"}, 400),
    (ITEMS, [("limit", "2"), ("limit", "3")], 400),
    (ITEMS, {"nope": "1"}, 400),
    (ITEMS, {"bbox": "1,2,3"}, 400),
    (ITEMS, {"filter": "value >"}, 400),
    (ITEMS, {"filter": "nothere = 1"}, 400),
    (ITEMS, {"filter-lang": "sql"}, 400),
    (ITEMS, {"crs": "EPSG:9999"}, 400),
    (ITEMS, {"sortby": "nothere"}, 400),
    (ITEMS, {"datetime": "yesterday"}, 400),
    (ITEMS, {"offset": "-1"}, 400),
    (ITEMS, {"kind": "a\x00"}, 400),
    ("/collections/no-such-layer/items", None, 404),
    ("/collections/no-such-layer/items", {"nope": "1"}, 404),
    ("/collections/feat-internal/items", None, 404),
    ("/collections/feat-unpublished/items", None, 404),
]


@pytest.mark.parametrize(("path", "params", "status"), SERVED_CASES)
def test_lane_answers_as_the_route(
    pair: tuple[httpx.Client, httpx.Client], path: str, params: Any, status: int
) -> None:
    resp, served = _both(pair, path, params)
    assert resp.status_code == status, resp.text[:300]
    assert served, "the lane left this request to the routes"
    if status >= 400:
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["request_id"] == "lanetest1"


def test_accept_json_media_types(pair: tuple[httpx.Client, httpx.Client]) -> None:
    for accept in ("application/geo+json", "application/json", "*/*", "text/html;q=0.1, application/json"):
        resp, served = _both(pair, ITEMS, {"limit": 2}, {"Accept": accept})
        assert resp.status_code == 200 and served, accept


def test_visibility_and_tokens(pair: tuple[httpx.Client, httpx.Client], tokens: dict[str, str]) -> None:
    internal = "/collections/feat-internal/items"
    resp, served = _both(pair, internal, None, {"Authorization": f"Bearer {tokens['viewer']}"})
    assert resp.status_code == 200 and served and resp.json()["numberReturned"] == 5
    for header in (f"Bearer {tokens['revoked']}", "Bearer gis_not-a-token", "Bearer", "Basic dXNlcjpwYXNz"):
        resp, served = _both(pair, internal, None, {"Authorization": header})
        assert resp.status_code == 401 and served, header
        assert resp.headers["www-authenticate"].startswith("Bearer")
        resp, _ = _both(pair, ITEMS, {"limit": 1}, {"Authorization": header})
        assert resp.status_code == 401


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"f": "html"}, None),
        ({"f": "csv", "limit": 3}, None),
        ({"f": "xml"}, None),
        ([("f", "json"), ("f", "json")], None),
        ({"limit": 2}, {"Accept": "text/html"}),
        ({"limit": 2}, {"Accept": "text/csv"}),
        ({"join": "population"}, None),
    ],
)
def test_other_requests_go_to_the_routes(
    pair: tuple[httpx.Client, httpx.Client], params: Any, headers: dict[str, str] | None
) -> None:
    _, served = _both(pair, ITEMS, params, headers)
    assert not served


def test_paths_and_methods_the_lane_leaves(pair: tuple[httpx.Client, httpx.Client]) -> None:
    routed, laned = pair
    for path in (f"{ITEMS}/", "/collections/Feat-Points/items", f"{ITEMS}/1", "/collections/a%2Fb/items"):
        _, served = _both(pair, path)
        assert not served, path
    before = len(SERVED)
    assert routed.head(ITEMS).status_code == laned.head(ITEMS).status_code
    assert len(SERVED) == before


def test_paging_links_keep_the_parameters(pair: tuple[httpx.Client, httpx.Client]) -> None:
    resp, served = _both(pair, ITEMS, {"limit": 10, "offset": 10, "kind": "a"})
    links = {lk["rel"]: lk["href"] for lk in resp.json()["links"]}
    assert served and "offset=20" in links["next"] and "kind=a" in links["prev"]


def test_repeated_pages_answer_the_same(pair: tuple[httpx.Client, httpx.Client]) -> None:
    """Pages served from the lane's prepared statements (and the parsed-filter cache) answer as the first."""
    for params in ({"limit": 7, "offset": 3}, {"filter": "value > 10 AND kind = 'a'", "limit": 4}):
        first, _ = _both(pair, ITEMS, params)
        for _ in range(2):
            again, served = _both(pair, ITEMS, params)
            assert served and again.json()["features"] == first.json()["features"]
            assert again.json()["numberMatched"] == first.json()["numberMatched"]


async def test_parsed_filters_are_copies() -> None:
    from gis_platform.features.cql_parse import parse_filter

    text = "kind = 'a' AND value > 1"
    first = await parse_filter(text, "cql2-text")
    first["args"].clear()  # a caller changing its copy must not change the next caller's
    again = await parse_filter(text, "cql2-text")
    assert len(again["args"]) == 2 and again == await parse_filter(text, "cql2-text")


def test_expensive_reads_still_seen_through_escapes() -> None:
    """The limits middleware's quick check before parsing misses no filter or big limit."""
    from gis_platform.web.limits import is_expensive_read

    for query, expensive in [
        (b"bbox=1,2,3,4&offset=5", False),
        (b"bbox=1%2C2%2C3%2C4", False),
        (b"filter=x", True),
        (b"%66ilter=x", True),
        (b"lim%69t=20000", True),
        (b"limit=20000", True),
        (b"limit=10", False),
        (b"f=json&kind=a+b", False),
    ]:
        assert is_expensive_read(ITEMS, query, 1000) is expensive, query


@pytest.fixture(scope="module")
def front_pair(make_server: Any, layers: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """The routes alone, and the app with both recording lanes (in front of the stack, and innermost)."""
    with _routed_and_laned(make_server, layers, lambda app: install_items_lane(app, lane=SpyLane)) as p:
        yield p


#: Headers two answers may differ in: the date, and the length of bodies whose links carry another port.
_PER_SERVER = {"date", "content-length"}


@pytest.mark.parametrize(
    ("params", "headers", "where"),
    [
        ({"limit": 5}, {"Accept-Encoding": "identity"}, "front"),
        ({"limit": 500}, {"Accept-Encoding": "gzip"}, "front"),  # compressed as the stack would
        ({"limit": 500}, {"Accept-Encoding": "identity"}, "front"),
        ({"bbox": "106.6,10.7,106.8,10.9", "limit": 20}, {}, "front"),
        ({"limit": "0"}, {}, "front"),  # a problem, with the stack's headers
        ({"filter": "value > 10", "limit": 4}, {}, "inner"),  # rate-limited: through the limits middleware
        ({"limit": 2000}, {}, "inner"),  # a big page: rate-limited too
        ({"limit": 5}, {"Origin": "https://elsewhere.example"}, "inner"),  # CORS
    ],
)
def test_the_front_lane_answers_as_the_stack(
    front_pair: tuple[httpx.Client, httpx.Client], params: Any, headers: dict[str, str], where: str
) -> None:
    routed, laned = front_pair
    sent = {"X-Request-ID": "front1", **headers}
    before = len(SERVED)
    a = routed.get(ITEMS, params=params, headers=sent)
    b = laned.get(ITEMS, params=params, headers=sent)
    assert _comparable(a, str(routed.base_url).rstrip("/")) == _comparable(b, str(laned.base_url).rstrip("/"))
    mine = {k: v for k, v in a.headers.items() if k not in _PER_SERVER | {"vary"}}
    lane = {k: v for k, v in b.headers.items() if k not in _PER_SERVER | {"vary"}}
    assert mine == lane
    # the order of Vary's fields means nothing (the gzip middleware adds its own after CORS in the stack)
    assert sorted(a.headers["vary"].split(", ")) == sorted(b.headers["vary"].split(", "))
    assert [s.split(":", 1)[0] for s in SERVED[before:]] == [where]
