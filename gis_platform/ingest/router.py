"""HTTP routes of ingest: create a layer, upload a version (a job), follow the job, publish, roll back."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from uuid import UUID

import psycopg
from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from gis_platform.auth.deps import EditorDep, ViewerDep
from gis_platform.errors import NotFound
from gis_platform.ingest import queries, service
from gis_platform.ingest.archive import MB
from gis_platform.ingest.deps import RunnerDep
from gis_platform.ingest.errors import UploadTooLarge
from gis_platform.ingest.jobs import Upload
from gis_platform.ingest.models import (
    SLUG_PATTERN,
    Job,
    JobAccepted,
    JobVersion,
    LayerCreate,
    LayerCreated,
    Link,
    VersionPublished,
)
from gis_platform.ingest.types import IngestOptions, VersionInfo
from gis_platform.ingest.versions import publish_version, rollback_to
from gis_platform.web.deps import ConnDep, DatabaseDep

#: The largest preview of an unpublished version (features): enough to see it, bounded in size.
PREVIEW_MAX = 5000
#: Multipart framing and the small form fields around the file.
_FORM_SLACK = 64 * 1024
#: Version numbers are PostgreSQL integers: a larger one is a 422, not a failed bind.
INT32_MAX = 2**31 - 1


class UploadRoute(APIRoute):
    """Refuse uploads whose declared length is over the limit before reading their body (413)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                limit = int(request.app.state.settings.ingest.max_upload_mb * MB)
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit + _FORM_SLACK:
                    raise UploadTooLarge(f"The upload is larger than the limit of {limit / MB:g} MB.",
                                         limit_mb=round(limit / MB, 3))  # fmt: skip
            return await handler(request)

        return limited


router = APIRouter(tags=["ingest"], route_class=UploadRoute)

SlugPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="Layer slug.")]


@router.post(
    "/catalogue/layers", name="ingest:create_layer", status_code=201, response_model=LayerCreated,
    summary="Create a layer (metadata only; upload its data as a version)",
)  # fmt: skip
async def create_layer(
    body: LayerCreate, conn: ConnDep, principal: EditorDep, response: Response
) -> LayerCreated:
    """Create a layer managed through the API; 409 if the slug is taken, 422 naming a bad field."""
    row = await service.create_layer(conn, body.model_dump(exclude={"description"}), actor=principal.actor)
    response.headers["Location"] = f"/catalogue/layers/{body.slug}"
    links = [Link(href=f"/catalogue/layers/{body.slug}", rel="self", type="application/json"),
             Link(href=f"/catalogue/layers/{body.slug}/versions", rel="create-form", title="Upload a version")]  # fmt: skip
    return LayerCreated(**{k: row[k] for k in LayerCreated.model_fields if k != "links"}, links=links)


@router.post(
    "/catalogue/layers/{slug}/versions", name="ingest:upload", status_code=202, response_model=JobAccepted,
    summary="Upload a file as the layer's next version (answers with a job)",
)  # fmt: skip
async def upload_version(
    slug: SlugPath,
    principal: EditorDep,
    runner: RunnerDep,
    conn: ConnDep,
    response: Response,
    file: Annotated[
        UploadFile,
        File(description="GeoJSON(Seq), zipped Shapefile, GeoPackage, KML/KMZ, FlatGeobuf or CSV."),
    ],
    crs: Annotated[
        str | None,
        Form(max_length=10_000, description="CRS when the file has none (EPSG:3405, VN2000-HCMC …)."),
    ] = None,
    encoding: Annotated[str | None, Form(max_length=40, description="utf-8, cp1258 or tcvn3.")] = None,
    layer_name: Annotated[
        str | None, Form(max_length=255, description="Table or layer of a multi-layer file.")
    ] = None,
    publish: Annotated[bool, Form(description="Publish the version once loaded.")] = False,
) -> JobAccepted:
    """Stage and check the file now (4xx problems name the file, row, feature or column), then load it in a job."""
    upload = Upload(
        file=file.file, filename=file.filename or "upload", publish=publish, author=principal.actor,
        options=IngestOptions(layer_name=layer_name or None, crs=crs or None, encoding=encoding or None),
    )  # fmt: skip
    job_id = await run_in_threadpool(runner.submit, slug, upload)
    job = await _job(conn, job_id)
    response.headers["Location"] = f"/jobs/{job_id}"
    return JobAccepted(job=job, links=[Link(href=f"/jobs/{job_id}", rel="monitor", type="application/json")])


@router.get(
    "/jobs/{job_id}",
    name="ingest:job",
    response_model=Job,
    summary="An ingest job: progress, report, version",
)
async def get_job(job_id: UUID, conn: ConnDep, principal: ViewerDep) -> Job:
    """The job's status, stage, progress, validation report and (when done) version or problem."""
    return await _job(conn, str(job_id))


async def _job(conn: Any, job_id: str) -> Job:
    row = await queries.fetch_job(conn, job_id)
    if row is None:
        raise NotFound(f"No ingest job {job_id}.", parameter="job_id")
    version = None
    if row["version"] is not None:
        version = JobVersion(version=row["version"], status=row["version_status"], feature_count=row["feature_count"],
                             bbox=row["bbox"], geometry_type=row["geometry_type"])  # fmt: skip
    links = [Link(href=f"/jobs/{job_id}", rel="self", type="application/json"),
             Link(href=f"/catalogue/layers/{row['layer']}", rel="layer", type="application/json")]  # fmt: skip
    return Job(
        id=row["id"], layer=row["layer"], status=row["status"], stage=row["stage"], progress=row["progress"],
        rows_done=row["rows_done"], publish=row["publish"], version=version, report=_json(row["report"]) or {},
        error=_json(row["error"]), author=row["author"], created_at=row["created_at"], updated_at=row["updated_at"],
        links=links,
    )  # fmt: skip


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@router.post(
    "/catalogue/layers/{slug}/versions/{version}/publish", name="ingest:publish", response_model=VersionPublished,
    summary="Publish a loaded version",
)  # fmt: skip
async def publish(
    slug: SlugPath, version: Annotated[int, Path(ge=1, le=INT32_MAX)], principal: EditorDep, db: DatabaseDep
) -> VersionPublished:
    """Point the layer at ``version`` in one transaction (404 unknown, 409 when its status forbids it)."""
    info = await run_in_threadpool(_switch, db.dsn, publish_version, slug, version, principal.actor)
    return _published(info)


@router.get(
    "/catalogue/layers/{slug}/versions/{version}/preview.geojson", name="ingest:preview", response_class=Response,
    summary="Preview a version before it is published (editors only; at most `limit` features)",
    responses={200: {"content": {"application/geo+json": {}}}},
)  # fmt: skip
async def preview(
    slug: SlugPath, version: Annotated[int, Path(ge=1, le=INT32_MAX)], principal: EditorDep, conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=PREVIEW_MAX, description="Features returned (first by fid).")] = 1000,
) -> Response:  # fmt: skip
    """The version's first features as GeoJSON: validated (unpublished) data is never cached or shown to others."""
    text = await service.preview(conn, slug, version, limit)
    return Response(text, media_type="application/geo+json", headers={"Cache-Control": "private, no-store"})


@router.post(
    "/catalogue/layers/{slug}/rollback", name="ingest:rollback", response_model=VersionPublished,
    summary="Publish an earlier version again",
)  # fmt: skip
async def rollback(
    slug: SlugPath, principal: EditorDep, db: DatabaseDep,
    to: Annotated[int, Query(ge=1, le=INT32_MAX, description="The version to publish again.")],
) -> VersionPublished:  # fmt: skip
    """Roll the layer back to version ``to``."""
    info = await run_in_threadpool(_switch, db.dsn, rollback_to, slug, to, principal.actor)
    return _published(info)


def _switch(dsn: str, action: Callable[..., VersionInfo], slug: str, version: int, actor: str) -> VersionInfo:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return action(conn, slug, version, actor=actor)


def _published(info: VersionInfo) -> VersionPublished:
    return VersionPublished(
        layer=info.slug, version=info.version, status=info.status, feature_count=info.feature_count,
        bbox=info.bbox, geometry_type=info.geometry_type,
        links=[Link(href=f"/catalogue/layers/{info.slug}", rel="layer", type="application/json")],
    )  # fmt: skip


__all__ = ["router"]
