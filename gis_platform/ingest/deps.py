"""Dependencies of the ingest routes: the job runner (one per app, made on first use)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gis_platform.ingest.jobs import JobRunner
from gis_platform.web.deps import DatabaseDep, SettingsDep


async def get_runner(request: Request, db: DatabaseDep, settings: SettingsDep) -> JobRunner:
    """The app's ingest job runner; the lifespan may set ``app.state.ingest_runner`` (and shut it down)."""
    runner: JobRunner | None = getattr(request.app.state, "ingest_runner", None)
    if runner is None:
        runner = JobRunner(db.dsn, settings.ingest)
        request.app.state.ingest_runner = runner
    return runner


RunnerDep = Annotated[JobRunner, Depends(get_runner)]
