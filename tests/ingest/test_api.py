"""The ingest API around uploads: layers, jobs, publish and rollback, tokens, serialised jobs, recovery."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gis_platform.auth.tokens import hash_token
from gis_platform.cli.ingest import app as ingest_app
from gis_platform.cli.tokens import app as tokens_app
from gis_platform.ingest import queries
from gis_platform.ingest.archive import Staging
from gis_platform.ingest.jobs import recover
from gis_platform.ingest.service import import_path
from gis_platform.settings import IngestSettings
from tests.conftest import LiveServer
from tests.ingest import files
from tests.ingest.conftest import (
    current_version,
    no_temp_files,
    published_layer,
    upload,
    view_count,
    wait_job,
)

pytestmark = pytest.mark.db

NEW_LAYER = {
    "slug": "truong-hoc-moi", "title_vi": "Trường học mới", "title_en": "New schools", "category": "test",
    "agency": "Sở Giáo dục", "licence": "CC-BY-4.0", "attribution": "Sở GD&ĐT", "geometry_type": "Point",
    "keywords": ["trường", "giáo dục"], "description": "Các trường mở năm 2025", "synthetic": True,
}  # fmt: skip


def test_create_layer_then_upload_its_first_version(conn: Any, api: httpx.Client, tmp_path: Path) -> None:
    published_layer(conn, "ensure-category")  # makes the 'test' category
    created = api.post("/catalogue/layers", json=NEW_LAYER)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/catalogue/layers/truong-hoc-moi"
    body = created.json()
    assert body["managed_by"] == "api" and body["current_version"] is None
    assert body["description_vi"] == "Các trường mở năm 2025"
    row = conn.execute("SELECT search_text FROM catalogue.layer WHERE slug = 'truong-hoc-moi'").fetchone()
    assert row is not None and "truong hoc moi" in row[0] and "giao duc" in row[0]

    again = api.post("/catalogue/layers", json=NEW_LAYER)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"

    status, job, _ = upload(api, "truong-hoc-moi", files.write(files.frame(4), tmp_path / "t.geojson", "GeoJSON"),
                            publish=True)  # fmt: skip
    assert status == 200 and job["version"]["version"] == 1
    assert view_count(conn, "truong-hoc-moi") == 4


@pytest.mark.parametrize(
    ("change", "parameter"),
    [({"category": "no-such"}, "category"), ({"slug": "Bad Slug!"}, "slug"), ({"geometry_type": "Circle"}, "geometry_type"),
     ({"colour": "red"}, "colour"), ({"title_vi": ""}, "title_vi")],
)  # fmt: skip
def test_create_layer_rejects_bad_metadata(
    conn: Any, api: httpx.Client, change: dict[str, Any], parameter: str
) -> None:
    published_layer(conn, "ensure-category")
    r = api.post("/catalogue/layers", json=NEW_LAYER | {"slug": "layer-bad-meta"} | change)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["parameter"] == parameter


def test_writes_need_an_editor_token(conn: Any, server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        r = anonymous.post("/catalogue/layers", json=NEW_LAYER)
        assert r.status_code == 401 and r.json()["type"] == "/problems/unauthorized"
        assert anonymous.post("/catalogue/layers/ensure-category/rollback?to=1").status_code == 401
        assert anonymous.get(f"/jobs/{uuid.uuid4()}").status_code == 401


def test_job_lookup(api: httpx.Client) -> None:
    missing = api.get(f"/jobs/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert api.get("/jobs/not-a-uuid").status_code == 422


def test_upload_without_publish_then_publish_and_roll_back(
    conn: Any, api: httpx.Client, tmp_path: Path
) -> None:
    published_layer(conn, "pub-flow")
    status, job, _ = upload(api, "pub-flow", files.write(files.frame(5), tmp_path / "a.fgb", "FlatGeobuf"))
    assert status == 200 and job["version"] == {"version": 2, "status": "validated", "feature_count": 5,
                                                 "bbox": job["version"]["bbox"], "geometry_type": "Point"}  # fmt: skip
    assert current_version(conn, "pub-flow") == 1 and view_count(conn, "pub-flow") == 3

    published = api.post("/catalogue/layers/pub-flow/versions/2/publish")
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert current_version(conn, "pub-flow") == 2 and view_count(conn, "pub-flow") == 5

    back = api.post("/catalogue/layers/pub-flow/rollback", params={"to": 1})
    assert back.status_code == 200 and back.json()["version"] == 1
    assert view_count(conn, "pub-flow") == 3
    assert api.post("/catalogue/layers/pub-flow/versions/9/publish").status_code == 404
    conflict = api.post("/catalogue/layers/pub-flow/versions/2/publish")  # superseded: only a rollback may
    assert conflict.status_code == 409 and conflict.json()["type"] == "/problems/version-conflict"
    actors = conn.execute("SELECT DISTINCT actor FROM catalogue.audit_log WHERE layer_slug = 'pub-flow' "
                          "AND action IN ('publish', 'rollback') AND version_after IN (1, 2) AND actor LIKE 'token:%'")  # fmt: skip
    assert actors.fetchall() == [("token:module-editor",)]


def test_cli_publish_and_rollback(conn: Any, cli: Callable[..., Any], tmp_path: Path) -> None:
    published_layer(conn, "cli-flow")
    imported = cli(ingest_app, "import", files.write(files.frame(2), tmp_path / "a.geojson", "GeoJSON"), "--layer",
                   "cli-flow")  # fmt: skip
    assert imported.exit_code == 0 and "version 2 validated" in imported.stdout
    assert current_version(conn, "cli-flow") == 1
    assert cli(ingest_app, "publish", "cli-flow", "2").exit_code == 0
    assert view_count(conn, "cli-flow") == 2
    result = cli(ingest_app, "rollback", "cli-flow", "--to", "1")
    assert result.exit_code == 0 and "version 1 is published" in result.stdout
    assert view_count(conn, "cli-flow") == 3
    assert cli(ingest_app, "publish", "cli-flow", "7").exit_code == 1


def test_cli_reports_a_rejected_file(
    conn: Any, cli: Callable[..., Any], tmp_path: Path, staging: Path
) -> None:
    published_layer(conn, "cli-rejected")
    path = tmp_path / "bad.csv"
    path.write_text("ten,lon,lat\na,106.7,10.7\nb,abc,10.7\n")
    result = cli(ingest_app, "import", path, "--layer", "cli-rejected", "--publish")
    assert result.exit_code == 2
    assert current_version(conn, "cli-rejected") == 1 and no_temp_files(staging)


def test_tokens_cli_create_list_revoke(conn: Any, cli: Callable[..., Any], server: LiveServer) -> None:
    created = cli(tokens_app, "create", "--role", "editor", "--name", "QGIS của phòng GIS")
    assert created.exit_code == 0
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("gis_") and len(token) > 40 and " " not in token
    row = conn.execute(
        "SELECT role, prefix, token_hash FROM catalogue.api_token WHERE name = 'QGIS của phòng GIS'"
    ).fetchone()
    assert row == ("editor", token[:12], hash_token(token))
    assert conn.execute("SELECT count(*) FROM catalogue.api_token WHERE token_hash = %s OR prefix = %s",
                        (token, token)).fetchone() == (0,)  # fmt: skip  # the token itself is never stored
    listed = cli(tokens_app, "list")
    assert listed.exit_code == 0 and token[:12] in listed.stdout and token not in listed.stdout
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get(f"/jobs/{uuid.uuid4()}").status_code == 404  # accepted
        assert cli(tokens_app, "revoke", token[:12]).exit_code == 0
        assert c.get(f"/jobs/{uuid.uuid4()}").status_code == 401
    assert cli(tokens_app, "create", "--role", "god", "--name", "x").exit_code == 1


def test_two_imports_of_one_layer_run_one_after_the_other(conn: Any, db_url: str, tmp_path: Path,
                                                         settings: IngestSettings) -> None:  # fmt: skip
    published_layer(conn, "serial")
    layer = queries.select_layer(conn, "serial")
    assert layer is not None
    path = files.write(files.frame(5), tmp_path / "a.geojson", "GeoJSON")
    done: list[int] = []
    with (
        psycopg.connect(db_url, autocommit=True) as holder,
        psycopg.connect(db_url, autocommit=True) as worker,
    ):
        queries.lock_layer_ingest(holder, layer["id"])  # another import of this layer is running
        thread = threading.Thread(target=lambda: done.append(
            import_path(worker, "serial", path, author="t", publish=True, settings=settings).version))  # fmt: skip
        thread.start()
        time.sleep(1.0)
        assert thread.is_alive() and not done
        assert conn.execute("SELECT count(*) FROM catalogue.layer_version v JOIN catalogue.layer l ON l.id = v.layer_id "
                            "WHERE l.slug = 'serial'").fetchone() == (1,)  # fmt: skip  # not even allocated
        queries.unlock_layer_ingest(holder, layer["id"])
        thread.join(timeout=30)
    assert done == [2] and view_count(conn, "serial") == 5


def test_concurrent_uploads_are_serialised(conn: Any, api: httpx.Client, tmp_path: Path) -> None:
    published_layer(conn, "serial-http")
    paths = [files.write(files.frame(3000, seed=s), tmp_path / f"p{s}.gpkg", "GPKG") for s in (1, 2)]
    accepted = [api.post("/catalogue/layers/serial-http/versions", files={"file": (p.name, p.read_bytes())},
                         data={"publish": "true"}) for p in paths]  # fmt: skip
    assert [r.status_code for r in accepted] == [202, 202]
    jobs = [wait_job(api, r.headers["location"]) for r in accepted]
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"]
    rows = conn.execute(
        "SELECT v.version, v.created_at, v.published_at FROM catalogue.layer_version v JOIN catalogue.layer l "
        "ON l.id = v.layer_id WHERE l.slug = 'serial-http' AND v.version > 1 ORDER BY v.version").fetchall()  # fmt: skip
    (_, _, first_published), (_, second_created, _) = rows
    assert second_created >= first_published  # the second load began after the first was published
    assert current_version(conn, "serial-http") == 3


KILLED = """
import os, signal, sys
import psycopg
from gis_platform.ingest.loader import VersionWriter
from gis_platform.ingest.types import Column
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    with VersionWriter(conn, sys.argv[2], [Column("a", "a")], author="test"):
        print(conn.info.backend_pid, flush=True)
        conn.execute("INSERT INTO catalogue.ingest_job (id, layer_id, status, stage) "
                     "SELECT gen_random_uuid(), id, 'running', 'loading' FROM catalogue.layer WHERE slug = %s",
                     (sys.argv[2],))
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _wait_backend_gone(conn: Any, pid: int) -> None:
    """The server notices a killed client only when it next reads from it: wait for that."""
    deadline = time.monotonic() + 30
    while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() != (0,):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_recover_after_a_killed_process(conn: Any, db_url: str, tmp_path: Path) -> None:
    published_layer(conn, "killed")
    settings = IngestSettings(staging_dir=tmp_path / "staging")
    (tmp_path / "staging").mkdir()
    stale_dir = tmp_path / "staging" / "gis-ingest-dead"
    stale_dir.mkdir()
    (stale_dir / ".lock").touch()
    (stale_dir / "upload.csv").write_text("x")
    proc = subprocess.run([sys.executable, "-c", KILLED, db_url, "killed"], capture_output=True, check=False)
    assert proc.returncode == -9, proc.stderr
    _wait_backend_gone(conn, int(proc.stdout.split()[0]))
    with Staging(tmp_path / "staging") as live, psycopg.connect(db_url, autocommit=True) as job_conn:
        live_job = str(uuid.uuid4())
        queries.hold_job_lock(job_conn, live_job)
        conn.execute("INSERT INTO catalogue.ingest_job (id, layer_id, status) SELECT %s, id, 'running' "
                     "FROM catalogue.layer WHERE slug = 'killed'", (live_job,))  # fmt: skip
        result = recover(conn, settings)
        assert result == {"versions": 1, "jobs": 1, "staging_dirs": 1}
        assert live.path.exists() and not stale_dir.exists()
    jobs = dict(conn.execute("SELECT j.id::text, j.status FROM catalogue.ingest_job j JOIN catalogue.layer l "
                             "ON l.id = j.layer_id WHERE l.slug = 'killed'").fetchall())  # fmt: skip
    assert jobs.pop(live_job) == "running" and list(jobs.values()) == ["failed"]
    error = conn.execute("SELECT j.error FROM catalogue.ingest_job j WHERE status = 'failed' AND stage = 'abandoned'"
                         ).fetchone()  # fmt: skip
    assert error is not None and error[0]["type"] == "/problems/job-abandoned"
    assert current_version(conn, "killed") == 1 and view_count(conn, "killed") == 3
    # its worker gone (connection closed), the other job is abandoned too; the live staging dir was removed by it
    assert recover(conn, settings) == {"versions": 0, "jobs": 1, "staging_dirs": 0}
