"""SQL of the audit log (psycopg for the CLI and ingest, asyncpg for the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import psycopg
from psycopg.rows import dict_row

_COLUMNS = (
    "actor", "role", "action", "target_kind", "target", "layer_slug", "version_before", "version_after",
    "details", "request_id",
)  # fmt: skip

INSERT_PSYCOPG = (
    "INSERT INTO catalogue.audit_log (actor, role, action, target_kind, target, layer_slug, version_before, "
    "version_after, details, request_id) VALUES (%(actor)s, %(role)s, %(action)s, %(target_kind)s, %(target)s, "
    "%(layer_slug)s, %(version_before)s, %(version_after)s, %(details)s::jsonb, %(request_id)s)"
)
INSERT_ASYNCPG = (
    "INSERT INTO catalogue.audit_log (actor, role, action, target_kind, target, layer_slug, version_before, "
    "version_after, details, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)"
)

# $1 target, $2 action, $3 since, $4 before (an id: the next page starts below it), $5 limit.
SELECT_EVENTS = """
SELECT id, at, actor, role, action, target_kind, target, version_before, version_after,
       details::text AS details, request_id
FROM catalogue.audit_log
WHERE ($1::text IS NULL OR target = $1)
  AND ($2::text IS NULL OR action = $2)
  AND ($3::timestamptz IS NULL OR at >= $3)
  AND ($4::bigint IS NULL OR id < $4)
ORDER BY id DESC
LIMIT $5
"""


def insert(conn: psycopg.Connection[Any], values: dict[str, Any]) -> None:
    """Record one write (in the caller's transaction)."""
    conn.execute(INSERT_PSYCOPG, values)


async def insert_async(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    """Record one write (asyncpg, in the caller's transaction)."""
    await conn.execute(INSERT_ASYNCPG, *(values[c] for c in _COLUMNS))


async def select_events(
    conn: asyncpg.Connection,
    *,
    target: str | None,
    action: str | None,
    since: datetime | None,
    before: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    """One page of audit events, newest first."""
    rows: list[asyncpg.Record] = await conn.fetch(SELECT_EVENTS, target, action, since, before, limit)
    return rows


def select_events_sync(
    conn: psycopg.Connection[Any], *, target: str | None, action: str | None, limit: int
) -> list[dict[str, Any]]:
    """One page of audit events, newest first (psycopg, the CLI)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, at, actor, role, action, target_kind, target, version_before, version_after, details, "
            "request_id FROM catalogue.audit_log WHERE (%(target)s::text IS NULL OR target = %(target)s) "
            "AND (%(action)s::text IS NULL OR action = %(action)s) ORDER BY id DESC LIMIT %(limit)s",
            {"target": target, "action": action, "limit": limit},
        )
        return cur.fetchall()
