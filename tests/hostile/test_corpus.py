"""The hostile corpus (corpus.yaml): every request and file is answered 4xx, as problem+json, without a trace.

Requests go to the real app under uvicorn; ``raw`` cases are written byte for byte on a socket (no client
normalises their path). Uploads answered 202 are followed to their job, whose problem must be a 4xx too.
Afterwards the server still answers, the layers are as they were and no catalogue table was dropped.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import psycopg
import pytest
import yaml

from tests.conftest import LiveServer
from tests.hostile.files import GENERATORS, HEADER_SETS, TEXTS
from tests.ingest.conftest import current_version, make_token, published_layer, view_count

pytestmark = pytest.mark.db

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "corpus.yaml").read_text())["cases"]
POINTS, TARGET = "hostile-points", "hostile-target"
PROBLEM = "application/problem+json"
#: What must never reach a client: stack traces, SQL, server paths (the request's own input aside).
LEAKS = re.compile(
    r"Traceback|File \"/|asyncpg|psycopg|sqlite3_|SELECT |FROM |syntax error at|LINE \d+:|"
    r"layerdata\.|catalogue\.|gis-platform-ingest|pytest-of|/work/|site-packages"
)


def _inputs(value: Any) -> Iterator[str]:
    """Every text the case sends (a problem may quote them back)."""
    if isinstance(value, str):
        yield value
        yield from (unquote(part) for part in re.split(r"[/?&=]", value))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _inputs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _inputs(item)


def _without_echo(text: str, case: dict[str, Any]) -> str:
    for given in sorted(_inputs(_text(case)), key=len, reverse=True):
        if len(given) >= 3:
            for form in (given, json.dumps(given)[1:-1], unquote(given)):
                text = text.replace(form, "")
    return text


class Hostile:
    def __init__(self, server: LiveServer, tokens: dict[str, str], db_url: str) -> None:
        self.server, self.tokens, self.db_url = server, tokens, db_url
        self.client = httpx.Client(base_url=server.url, timeout=60)


@pytest.fixture(scope="module")
def hostile(make_server: Callable[..., LiveServer], db_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Hostile]:  # fmt: skip
    with psycopg.connect(db_url, autocommit=True) as conn:
        published_layer(conn, POINTS)
        published_layer(conn, TARGET)
        tokens = {"editor": make_token(conn, "editor", "hostile"), "viewer": make_token(conn, "viewer", "hostile"),
                  "bad": "gis_" + "0" * 40}  # fmt: skip
    staging = tmp_path_factory.mktemp("hostile-staging")
    server = make_server(
        db_url, REDIS_URL="", ingest={"staging_dir": staging, "max_upload_mb": 4, "max_uncompressed_mb": 16}
    )
    h = Hostile(server, tokens, db_url)
    yield h
    h.client.close()


def _text(value: Any) -> Any:
    if isinstance(value, str):
        if value.startswith("@gen:") and value.removeprefix("@gen:") in TEXTS:
            return TEXTS[value.removeprefix("@gen:")]()
        return value.replace("{points}", POINTS).replace("{target}", TARGET)
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


def _raw(url: str, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One request written as is on a socket; the status, headers and body of the answer."""
    port = int(url.rsplit(":", 1)[1])
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if method in ("POST", "PUT", "PATCH"):
        head += "Content-Length: 0\r\n"
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n")
        while chunk := sock.recv(65536):
            data += chunk
    header_block, _, body = data.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    parsed = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if parsed.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return status, parsed, body


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2 :]
    return out


def _send(h: Hostile, case: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    method = case.get("method", "GET")
    path = _text(case["path"])
    given = case.get("headers", {})
    headers = HEADER_SETS[given.removeprefix("@gen:")]() if isinstance(given, str) else dict(_text(given))
    if case.get("auth", "none") != "none":
        headers["Authorization"] = f"Bearer {h.tokens[case['auth']]}"
    if case.get("raw"):
        return _raw(h.server.url, method, path, headers)
    kwargs: dict[str, Any] = {"params": _text(case.get("params")), "headers": headers}
    if "json" in case:
        kwargs["json"] = _text(case["json"])
    elif "body" in case or "body_gen" in case:
        kwargs["content"] = case["body"].encode() if "body" in case else GENERATORS[case["body_gen"]]()
        headers["Content-Type"] = case["content_type"]
    if "file" in case or "form" in case:
        kwargs["data"] = _text(case.get("form", {}))
        if "file" in case:
            spec = case["file"]
            content = GENERATORS[spec["gen"]]() if "gen" in spec else spec["text"].encode("latin-1")
            kwargs["files"] = {"file": (spec["name"], content)}
        else:  # a multipart form without the file
            kwargs["files"] = {"other": ("x.txt", b"x")}
    resp = h.client.request(method, path, **kwargs)
    if resp.status_code == 202 and "/versions" in path:  # an accepted upload: the job must fail with a 4xx
        job = _wait_job(h, resp.json()["links"][0]["href"])
        assert job["status"] == "failed", (case["id"], job)
        error: dict[str, Any] = job["error"]
        return int(error["status"]), {"content-type": PROBLEM}, httpx.Response(200, json=error).content
    return resp.status_code, dict(resp.headers), resp.content


def _wait_job(h: Hostile, href: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = h.client.get(
            href, headers={"Authorization": f"Bearer {h.tokens['viewer']}"}
        ).json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_the_corpus_is_large_and_its_ids_unique() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) >= 50 and len(set(ids)) == len(ids)
    files = [case for case in CASES if "file" in case]
    assert len(files) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_hostile_input_gets_a_4xx_problem(hostile: Hostile, case: dict[str, Any]) -> None:
    status, headers, body = _send(hostile, case)
    expected = case.get("status")
    allowed = expected if isinstance(expected, list) else [expected] if expected else range(400, 500)
    assert status in allowed, (case["id"], status, body[:400])
    text = body.decode("utf-8", "replace")
    assert not LEAKS.search(_without_echo(text, case)), (case["id"], text[:600])
    if case.get("protocol"):
        return
    assert headers.get("content-type", "").startswith(PROBLEM), (case["id"], headers, text[:300])
    problem = httpx.Response(200, content=body).json()
    assert problem["status"] == status and problem["title"] and problem["type"].startswith("/problems/")


def test_free_text_search_takes_injection_as_words(hostile: Hostile) -> None:
    for q in ("'; DROP TABLE catalogue.layer; --", "1' OR '1'='1", "\\' UNION SELECT token FROM x --"):
        resp = hostile.client.get("/catalogue/layers", params={"q": q})
        assert resp.status_code == 200 and resp.json()["numberMatched"] == 0, resp.text[:300]


def test_the_server_is_healthy_and_nothing_changed(hostile: Hostile) -> None:
    assert hostile.client.get("/health").status_code == 200
    assert hostile.client.get(f"/collections/{POINTS}/items").json()["numberReturned"] == 3
    with psycopg.connect(hostile.db_url, autocommit=True) as conn:
        for slug in (POINTS, TARGET):
            assert current_version(conn, slug) == 1 and view_count(conn, slug) == 3
        row = conn.execute("SELECT count(*) FROM catalogue.api_token").fetchone()
        assert row is not None and row[0] >= 2
