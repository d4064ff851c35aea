"""Create, list, revoke and check API tokens; only a token's sha256 is stored, with a short prefix."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from gis_platform.audit import service as audit
from gis_platform.auth import queries
from gis_platform.errors import InvalidParameter, NotFound, PlatformError

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


def create_token(
    conn: psycopg.Connection[Any], *, name: str, role: str, actor: str | None = None
) -> tuple[str, TokenInfo]:
    """Make a new random token; store its hash (audited); return the token (shown once) and its record."""
    if role not in _RANK:
        raise InvalidParameter("role", f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    if not name.strip():
        raise InvalidParameter("name", "A token needs a name (who or what uses it).")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with conn.transaction():
        row = queries.insert_token(conn, name.strip(), role, hash_token(token), token[:SHOWN])
        _audit(conn, "token.create", row, actor)
    return token, TokenInfo.from_row(row)


def _audit(conn: psycopg.Connection[Any], action: str, row: dict[str, Any], actor: str | None) -> None:
    audit.record(
        conn, actor=actor or audit.cli_actor(), action=action, target_kind="token", target=str(row["id"]),
        details={"name": row["name"], "role": row["role"], "prefix": row["prefix"]},
    )  # fmt: skip


def list_tokens(conn: psycopg.Connection[Any], *, include_revoked: bool = False) -> list[TokenInfo]:
    """The tokens, oldest first."""
    return [TokenInfo.from_row(r) for r in queries.select_tokens(conn, include_revoked=include_revoked)]


def revoke_token(conn: psycopg.Connection[Any], ident: str, *, actor: str | None = None) -> TokenInfo:
    """Revoke a token by its id or its prefix (as ``tokens list`` shows them); audited."""
    token_id = int(ident) if ident.isdigit() else None
    with conn.transaction():
        rows = queries.revoke(conn, token_id=token_id, prefix=None if token_id is not None else ident)
        if not rows:
            raise NotFound(f"No live token with id or prefix {ident!r}.", parameter="token")
        for row in rows:
            _audit(conn, "token.revoke", row, actor)
    return TokenInfo.from_row(rows[0])


async def authenticate(conn: Any, token: str) -> Principal | None:
    """The principal of a presented token, or None when it is unknown or revoked (asyncpg)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = await queries.touch_token(conn, hash_token(token))
    if row is None:
        return None
    return Principal(token_id=int(row["id"]), name=str(row["name"]), role=str(row["role"]))


def can_see(principal: Principal | None, visibility: str) -> bool:
    """True when ``principal`` (None: anonymous) may see a layer of ``visibility``.

    Public layers are for everyone; internal ones for any valid token (viewer and above). Every
    place that can reach a layer asks this, and answers 404 (not 403) when it is False, so an
    internal layer's existence does not leak.
    """
    return visibility == "public" or (principal is not None and principal.has_role("viewer"))


@dataclass(frozen=True)
class Access:
    """What the caller of a read may see: the principal (None when anonymous)."""

    principal: Principal | None = None

    @property
    def internal(self) -> bool:
        """True when internal layers are visible too."""
        return can_see(self.principal, "internal")

    def can_see(self, visibility: str) -> bool:
        """True when a layer of ``visibility`` is visible."""
        return can_see(self.principal, visibility)


ANONYMOUS = Access()


class TokenRejected(PlatformError):
    """A malformed, unknown or revoked token (401); raise it with ``headers={"WWW-Authenticate": …}``."""

    type = "unauthorized"
    title = "Unauthorized"
    status = 401


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization`` header: None without one, ``""`` when it is not a bearer token."""
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class PrincipalCache:
    """Principals of recently presented tokens, for the tile lane (a map asks for dozens of tiles at once).

    Only valid tokens are kept, for ``ttl_s``: a revoked token stops working within that time.
    """

    def __init__(self, ttl_s: float = 1.0, size: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str, now: float) -> Principal | None:
        """The cached principal of ``token`` when still fresh."""
        entry = self._entries.get(token)
        if entry is None or entry[1] < now:
            return None
        return entry[0]

    def put(self, token: str, principal: Principal, now: float) -> None:
        """Remember a token's principal."""
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[token] = (principal, now + self.ttl_s)
