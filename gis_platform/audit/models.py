"""Response models of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEvent(BaseModel):
    """One recorded write."""

    id: int
    at: datetime
    actor: str = Field(description="token:<name>, cli:<os user>, or the name a tool gave.")
    role: str | None
    action: str
    target_kind: str = Field(description="layer, token, indicator, job …")
    target: str | None
    version_before: int | None
    version_after: int | None
    details: dict[str, Any]
    request_id: str | None


class AuditLink(BaseModel):
    """A link to another page."""

    href: str
    rel: str
    type: str = "application/json"


class AuditPage(BaseModel):
    """A page of the audit log, newest first; follow ``next`` for older events."""

    events: list[AuditEvent]
    numberReturned: int
    links: list[AuditLink]
