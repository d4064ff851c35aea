"""HTTP route of the audit log (admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from gis_platform.audit import service
from gis_platform.audit.models import AuditLink, AuditPage
from gis_platform.auth.deps import AdminDep
from gis_platform.web.deps import ConnDep

router = APIRouter(tags=["audit"])


@router.get(
    "/audit", name="audit:list", response_model=AuditPage, summary="The audit log (admin)",
    responses={401: {"description": "No or bad token"}, 403: {"description": "Not an admin"}},
)  # fmt: skip
async def list_audit(
    request: Request,
    conn: ConnDep,
    principal: AdminDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page.")] = 100,
    target: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00-\x1f\x7f]*$",
            description="Only events on this target (a layer slug, token id …).",
        ),
    ] = None,
    action: Annotated[
        str | None, Query(pattern=r"^[a-z][a-z0-9_.-]{0,62}$", description="Only this action (publish …).")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Only events at or after this time (RFC 3339).")
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, description="Only events older than this id (the next page's cursor).")
    ] = None,
) -> AuditPage:
    """Every write, newest first: who (actor, role), what (action, target), when, versions before and after."""
    events = await service.list_events(
        conn, target=target, action=action, since=since, before=before, limit=limit
    )
    links = [AuditLink(href=str(request.url), rel="self")]
    if len(events) == limit:
        links.append(AuditLink(href=str(request.url.include_query_params(before=events[-1].id)), rel="next"))
    return AuditPage(events=events, numberReturned=len(events), links=links)
