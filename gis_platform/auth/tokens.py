"""Create, list, revoke and check API tokens; only a token's sha256 is stored, with a short prefix."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from gis_platform.auth import queries
from gis_platform.errors import InvalidParameter, NotFound

ROLES = ("viewer", "editor", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
TOKEN_PREFIX = "gis_"  # noqa: S105 - a public marker, not a secret
#: Characters of a token kept in clear (to recognise it in lists): "gis_" and 8 random ones.
SHOWN = len(TOKEN_PREFIX) + 8


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never the token itself)."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TokenInfo:
        """Build from a database row."""
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: the token's id, name and role."""

    token_id: int
    name: str
    role: str

    @property
    def actor(self) -> str:
        """How audit records and versions name the caller."""
        return f"token:{self.name}"

    def has_role(self, role: str) -> bool:
        """True when this principal's role is ``role`` or above (viewer < editor < admin)."""
        return _RANK[self.role] >= _RANK[role]


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(conn: psycopg.Connection[Any], *, name: str, role: str) -> tuple[str, TokenInfo]:
    """Make a new random token; store its hash; return the token (shown once) and its record."""
    if role not in _RANK:
        raise InvalidParameter("role", f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    if not name.strip():
        raise InvalidParameter("name", "A token needs a name (who or what uses it).")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = queries.insert_token(conn, name.strip(), role, hash_token(token), token[:SHOWN])
    return token, TokenInfo.from_row(row)


def list_tokens(conn: psycopg.Connection[Any], *, include_revoked: bool = False) -> list[TokenInfo]:
    """The tokens, oldest first."""
    return [TokenInfo.from_row(r) for r in queries.select_tokens(conn, include_revoked=include_revoked)]


def revoke_token(conn: psycopg.Connection[Any], ident: str) -> TokenInfo:
    """Revoke a token by its id or its prefix (as ``tokens list`` shows them)."""
    token_id = int(ident) if ident.isdigit() else None
    rows = queries.revoke(conn, token_id=token_id, prefix=None if token_id is not None else ident)
    if not rows:
        raise NotFound(f"No live token with id or prefix {ident!r}.", parameter="token")
    return TokenInfo.from_row(rows[0])


async def authenticate(conn: Any, token: str) -> Principal | None:
    """The principal of a presented token, or None when it is unknown or revoked (asyncpg)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await queries.touch_token(conn, hash_token(token))
    if row is None:
        return None
    return Principal(token_id=int(row["id"]), name=str(row["name"]), role=str(row["role"]))
