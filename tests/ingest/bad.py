"""Helpers of the bad-input tests: the refusal check and small builders of bad files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.ingest import files
from tests.ingest.conftest import current_version, no_temp_files, view_count

PROBLEM = "application/problem+json"


def rejected(
    conn: psycopg.Connection[Any], staging: Path, slug: str, result: tuple[int, dict[str, Any], httpx.Response],
    status: int, **members: Any,
) -> dict[str, Any]:  # fmt: skip
    """Assert the upload was refused with ``status`` and left everything as it was; return the problem."""
    code, problem, response = result
    assert code == status, problem
    if response.status_code != 202:  # refused at once, else by the job (its error is the same problem)
        assert response.headers["content-type"] == PROBLEM
    assert problem["status"] == status and problem["type"].startswith("/problems/") and problem["detail"]
    for key, value in members.items():
        assert problem.get(key) == value, (key, problem)
    assert current_version(conn, slug) == 1
    assert view_count(conn, slug) == 3  # the published version still answers
    assert no_temp_files(staging)
    return problem


def zipped(members: dict[str, bytes], level: int = 6) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def csv_bytes(rows: list[str], header: str = "ten,lon,lat") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


GOOD_ROWS = ["a,106.70,10.77", "b,106.71,10.78"]
GOOD_GEOJSON = files.geojson_text([files.feature({"ten": "a"})]).encode()


def include_router(app: Any) -> None:
    from gis_platform.ingest.router import router

    app.include_router(router)
