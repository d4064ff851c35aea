"""schemathesis over every operation of ``/api``: no 5xx, and every error is a problem+json.

Reads get valid and invalid requests, writes only invalid ones (an editor token is sent, so they reach the
checks behind authentication). Bounded: a few hundred requests, well under a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.conftest import LiveServer
from tests.ingest.conftest import make_token, published_layer

pytestmark = pytest.mark.db

READ, WRITE = "fuzz-read", "fuzz-write"
PROBLEM = "application/problem+json"
#: Examples per operation and mode; the budget keeps the whole run bounded.
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 10}
BUDGET_S = 90


@pytest.fixture(scope="module")
def fuzz(make_server: Callable[..., LiveServer], db_url: str, tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[Any, str]:  # fmt: skip
    with psycopg.connect(db_url, autocommit=True) as conn:
        published_layer(conn, READ)
        published_layer(conn, WRITE)
        token = make_token(conn, "editor", "fuzz")
    staging: Path = tmp_path_factory.mktemp("fuzz-staging")
    server = make_server(db_url, REDIS_URL="", ingest={"staging_dir": staging, "max_upload_mb": 1})
    spec = httpx.get(f"{server.url}/api", timeout=30).json()
    for item in spec["paths"].values():
        for method, operation in item.items():
            slugs = [READ, "nope"] if method == "get" else [WRITE, "nope"]
            for param in operation.get("parameters", []):
                if param["in"] == "path" and param["name"] in ("slug", "slugs", "collectionId"):
                    param["schema"] = {"type": "string", "enum": slugs}
    spec["servers"] = [{"url": server.url}]
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(base_url=server.url)
    return schema, token


def test_no_operation_answers_a_server_error(fuzz: tuple[Any, str]) -> None:
    schema, token = fuzz
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 35
    started = time.monotonic()
    calls: dict[str, int] = {}
    failures: list[str] = []
    for operation in operations:
        modes = [GenerationMode.NEGATIVE] if operation.method.upper() != "GET" else list(EXAMPLES)
        for mode in modes:
            if (
                operation.method.upper() == "GET"
                and mode is GenerationMode.NEGATIVE
                and not (operation.path_parameters or operation.query)
            ):
                continue  # nothing to make invalid

            @settings(max_examples=EXAMPLES[mode], deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
                resp = case.call(headers=headers, timeout=30)
                calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
                content_type = (resp.headers.get("content-type") or [""])[0]  # header -> list of values
                if resp.status_code >= 500 or (
                    resp.status_code >= 400 and not content_type.startswith(PROBLEM)
                ):
                    failures.append(f"{case.method} {case.formatted_path} {case.query} -> {resp.status_code} "
                                    f"{resp.text[:200]}")  # fmt: skip

            call()
    assert not failures, "\n".join(failures[:30])
    assert set(calls) == {op.label for op in operations}
    assert time.monotonic() - started < BUDGET_S
    assert sum(calls.values()) >= 300
