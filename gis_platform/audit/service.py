"""Record writes in the audit log and read it back (admins).

Every write calls :func:`record` (psycopg) or :func:`record_async` (asyncpg) inside the transaction
of the change itself, so a change and its record commit (or vanish) together. The caller's role and
request id come from :mod:`gis_platform.audit.context` unless given.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import psycopg

from gis_platform.audit import queries
from gis_platform.audit.context import current_caller
from gis_platform.audit.models import AuditEvent


def cli_actor() -> str:
    """How a command run by hand is named: ``cli:<os user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli:unknown"


def _values(
    actor: str, action: str, target_kind: str, target: str | None, *, role: str | None,
    version_before: int | None, version_after: int | None, details: dict[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    caller = current_caller()
    return {
        "actor": actor, "role": role or caller.role, "action": action, "target_kind": target_kind,
        "target": target, "layer_slug": target if target_kind == "layer" else None,
        "version_before": version_before, "version_after": version_after,
        "details": orjson.dumps(details or {}, default=str).decode(), "request_id": caller.request_id,
    }  # fmt: skip


def record(
    conn: psycopg.Connection[Any], *, actor: str, action: str, target_kind: str = "layer",
    target: str | None = None, role: str | None = None, version_before: int | None = None,
    version_after: int | None = None, details: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Record a write made on ``conn`` (psycopg), in its current transaction."""
    queries.insert(
        conn, _values(actor, action, target_kind, target, role=role, version_before=version_before,
                      version_after=version_after, details=details),
    )  # fmt: skip


async def record_async(
    conn: asyncpg.Connection, *, actor: str, action: str, target_kind: str = "layer",
    target: str | None = None, role: str | None = None, version_before: int | None = None,
    version_after: int | None = None, details: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Record a write made on ``conn`` (asyncpg), in its current transaction."""
    await queries.insert_async(
        conn, _values(actor, action, target_kind, target, role=role, version_before=version_before,
                      version_after=version_after, details=details),
    )  # fmt: skip


async def list_events(
    conn: asyncpg.Connection, *, target: str | None, action: str | None, since: datetime | None,
    before: int | None, limit: int,
) -> list[AuditEvent]:  # fmt: skip
    """A page of events, newest first (``before``: an id from the previous page)."""
    rows = await queries.select_events(
        conn, target=target, action=action, since=since, before=before, limit=limit
    )
    return [AuditEvent.model_validate({**dict(r), "details": orjson.loads(r["details"])}) for r in rows]


def list_events_sync(
    conn: psycopg.Connection[Any], *, target: str | None = None, action: str | None = None, limit: int = 50
) -> list[AuditEvent]:
    """The newest events (psycopg, for the CLI)."""
    rows = queries.select_events_sync(conn, target=target, action=action, limit=limit)
    return [AuditEvent.model_validate(r) for r in rows]
