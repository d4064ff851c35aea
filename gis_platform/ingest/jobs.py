"""Ingest jobs: an upload is staged and checked at once, then loaded by a worker thread.

Each job has its own autocommit connection that holds an advisory lock for the job's life (so
:func:`recover` can tell a job whose process died from a live one) and records stage, progress,
report and, on failure, the RFC 9457 problem. The load itself runs on a second connection.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, TYPE_CHECKING, Any

import psycopg

from gis_platform.errors import PlatformError
from gis_platform.ingest import queries
from gis_platform.ingest.archive import Limits, Staging, save_stream, staging_root, sweep_stale
from gis_platform.ingest.report import Report
from gis_platform.ingest.types import IngestOptions, IngestProgress
from gis_platform.ingest.versions import recover_abandoned_versions
from gis_platform.settings import IngestSettings, get_settings

if TYPE_CHECKING:
    from gis_platform.ingest.pipeline import Prepared

# The pipeline (pyogrio, GDAL, geopandas, pandas, Arrow) is imported by the first job, not at start:
# a web worker that never ingests keeps ~60 MB less resident, which the streaming RSS figure counts.

logger = logging.getLogger(__name__)

_UPDATE_EVERY_S = 0.5


def problem_of(exc: BaseException, instance: str) -> dict[str, Any]:
    """The RFC 9457 problem a failed job shows (internal errors keep their details in the log)."""
    if isinstance(exc, PlatformError):
        body = {
            "type": f"/problems/{exc.type}",
            "title": exc.title,
            "status": exc.status,
            "detail": exc.detail,
        }
        body.update({k: v for k, v in exc.extensions.items() if v is not None})
    else:
        body = {"type": "/problems/internal-error", "title": "Internal server error", "status": 500,
                "detail": "The import failed unexpectedly; the server log has the details."}  # fmt: skip
    body["instance"] = instance
    return body


def safe_filename(name: str | None) -> str:
    """The base name of an uploaded file, reduced to harmless characters (the original is kept for messages)."""
    base = PurePath((name or "upload").replace("\\", "/")).name or "upload"
    return re.sub(r"[^\w.\-]+", "_", base)[-120:].lstrip(".") or "upload"


@dataclass(frozen=True)
class Upload:
    """An upload to import: its bytes, name and what the uploader said."""

    file: IO[bytes]
    filename: str
    options: IngestOptions
    publish: bool
    author: str


class JobRunner:
    """Runs ingest jobs in a few worker threads (never on the event loop)."""

    def __init__(self, dsn: str, settings: IngestSettings) -> None:
        self.dsn = dsn
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="ingest-job")

    def submit(self, slug: str, upload: Upload) -> str:
        """Stage and check an upload, then queue its load; return the job id (blocking: run in a thread).

        Raises:
            PlatformError: the upload is too large, unreadable or invalid (nothing is queued then).
        """
        staging = Staging(staging_root(self.settings))
        try:
            name = PurePath((upload.filename or "upload").replace("\\", "/")).name or "upload"
            path = staging.path / "upload" / safe_filename(name)
            path.parent.mkdir()
            save_stream(
                upload.file, path, max_bytes=Limits.from_settings(self.settings).max_upload, name=name
            )
            from gis_platform.ingest.pipeline import prepare

            with psycopg.connect(self.dsn, autocommit=True) as conn:
                prepared = prepare(
                    conn,
                    slug,
                    path,
                    name=name,
                    workdir=staging.path,
                    options=upload.options,
                    settings=self.settings,
                )
            return self._start(slug, upload, staging, prepared)
        except BaseException:
            staging.cleanup()
            raise

    def _start(self, slug: str, upload: Upload, staging: Staging, prepared: Prepared) -> str:
        job_id = str(uuid.uuid4())
        conn = psycopg.connect(self.dsn, autocommit=True)
        try:
            queries.hold_job_lock(conn, job_id)
            with conn.transaction():
                queries.insert_job(
                    conn,
                    {"id": job_id, "layer_id": prepared.layer_id, "stage": "queued", "publish": upload.publish,
                     "author": upload.author, "pid": os.getpid(), "report": json.dumps({"file": prepared.source.name})},
                )  # fmt: skip
                queries.insert_audit(
                    conn, {"actor": upload.author, "action": "job.create", "layer_slug": slug,
                           "details": {"job": job_id, "file": prepared.source.name, "publish": upload.publish}},
                )  # fmt: skip
            # the job's writes are audited with the caller's role and request id (gis_platform.audit.context)
            context = contextvars.copy_context()
            self._executor.submit(context.run, self._run, job_id, conn, slug, upload, staging, prepared)
        except BaseException:
            conn.close()
            raise
        return job_id

    def _run(
        self, job_id: str, conn: psycopg.Connection[Any], slug: str, upload: Upload, staging: Staging,
        prepared: Prepared,
    ) -> None:  # fmt: skip
        tracker = _Tracker(conn, job_id)
        report = Report()
        final: dict[str, Any]
        try:
            tracker.update({"status": "running", "stage": "starting"})
            from gis_platform.ingest.pipeline import load

            with psycopg.connect(self.dsn, autocommit=True) as load_conn:
                info = load(
                    load_conn, slug, prepared, author=upload.author, publish=upload.publish,
                    progress=tracker.progress, report=report,
                )  # fmt: skip
            final = {
                "status": "succeeded", "stage": "published" if upload.publish else "validated", "progress": 1.0,
                "version": info.version, "report": json.dumps(info.report, default=str), "rows_done": tracker.rows,
            }  # fmt: skip
        except BaseException as exc:
            if not isinstance(exc, PlatformError):
                logger.exception("ingest job %s failed", job_id)
            final = {
                "status": "failed", "stage": "failed", "report": json.dumps(report.as_json(), default=str),
                "error": json.dumps(problem_of(exc, f"/jobs/{job_id}"), default=str),
            }  # fmt: skip
        finally:
            staging.cleanup()  # before the job shows as done: nothing is left behind by then
        try:
            tracker.update(final)
        finally:
            conn.close()  # releases the job lock

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking jobs; wait for the running ones unless ``wait`` is false."""
        self._executor.shutdown(wait=wait, cancel_futures=not wait)


class _Tracker:
    """Writes a job's progress to its row, at most twice a second (and at every stage change)."""

    def __init__(self, conn: psycopg.Connection[Any], job_id: str) -> None:
        self.conn = conn
        self.job_id = job_id
        self.rows = 0
        self._stage: str | None = None
        self._last = 0.0
        self._lock = threading.Lock()

    def update(self, values: dict[str, Any]) -> None:
        with self._lock:
            try:
                queries.update_job(self.conn, self.job_id, values)
            except psycopg.Error:
                logger.warning("cannot record the state of ingest job %s", self.job_id, exc_info=True)

    def progress(self, p: IngestProgress) -> None:
        self.rows = p.rows_done
        now = time.monotonic()
        if p.stage == self._stage and now - self._last < _UPDATE_EVERY_S:
            return
        self._stage, self._last = p.stage, now
        share = min(p.rows_done / p.total, 1.0) if p.total else 0.0
        values: dict[str, Any] = {
            "stage": p.stage,
            "rows_done": p.rows_done,
            "progress": round(0.95 * share, 4),
        }
        if p.version is not None:
            values["version"] = p.version
        self.update(values)


def recover(conn: psycopg.Connection[Any], settings: IngestSettings | None = None) -> dict[str, int]:
    """Clean up after a killed process (call at startup): versions, jobs and staging dirs left behind.

    Versions still ``loading`` and jobs still ``queued``/``running`` whose worker holds no lock are
    marked failed (the versions' tables dropped); staging dirs nobody holds are removed.
    """
    settings = settings or get_settings().ingest
    versions = recover_abandoned_versions(conn)
    problem = {
        "type": "/problems/job-abandoned", "title": "Job abandoned", "status": 500,
        "detail": "The server stopped before this import finished; upload the file again.",
    }  # fmt: skip
    jobs = queries.fail_stale_jobs(conn, json.dumps(problem))
    swept = sweep_stale(staging_root(settings))
    if jobs:
        logger.warning("marked %d abandoned ingest jobs failed", len(jobs))
    return {"versions": len(versions), "jobs": len(jobs), "staging_dirs": swept}


def recover_database(dsn: str, settings: IngestSettings | None = None) -> dict[str, int]:
    """:func:`recover` on its own autocommit connection (for a lifespan: ``await asyncio.to_thread(...)``)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return recover(conn, settings)
