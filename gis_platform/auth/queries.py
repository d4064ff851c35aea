"""SQL of API tokens (psycopg for the CLI, asyncpg for the API)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row


def insert_token(
    conn: psycopg.Connection[Any], name: str, role: str, token_hash: str, prefix: str
) -> dict[str, Any]:
    """Store a new token's hash; return its row."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "INSERT INTO catalogue.api_token (name, role, token_hash, prefix) VALUES (%s, %s, %s, %s) "
            "RETURNING id, name, role, prefix, created_at, last_used_at, revoked_at",
            (name, role, token_hash, prefix),
        )
        row = cur.fetchone()
    assert row is not None  # noqa: S101 - INSERT … RETURNING returns the row
    return row


def select_tokens(conn: psycopg.Connection[Any], *, include_revoked: bool) -> list[dict[str, Any]]:
    """Every token (without hashes), oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, name, role, prefix, created_at, last_used_at, revoked_at FROM catalogue.api_token "
            "WHERE %s OR revoked_at IS NULL ORDER BY id",
            (include_revoked,),
        )
        return cur.fetchall()


def revoke(
    conn: psycopg.Connection[Any], *, token_id: int | None, prefix: str | None
) -> list[dict[str, Any]]:
    """Revoke the token with this id or prefix (if not revoked yet); return the rows revoked."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "UPDATE catalogue.api_token SET revoked_at = now() "
            "WHERE revoked_at IS NULL AND (id = %s OR prefix = %s) "
            "RETURNING id, name, role, prefix, created_at, last_used_at, revoked_at",
            (token_id, prefix),
        )
        return cur.fetchall()


async def touch_token(conn: Any, token_hash: str) -> dict[str, Any] | None:
    """The live token with this hash, marking it used (asyncpg); None when unknown or revoked."""
    row = await conn.fetchrow(
        "UPDATE catalogue.api_token SET last_used_at = now() WHERE token_hash = $1 AND revoked_at IS NULL "
        "RETURNING id, name, role",
        token_hash,
    )
    return dict(row) if row else None
