"""FastAPI dependencies of bearer-token auth: ``EditorDep`` and friends answer 401/403 problems."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from gis_platform.audit.context import set_caller
from gis_platform.auth.tokens import ANONYMOUS, Access, Principal, authenticate, bearer_token
from gis_platform.db.pool import Database
from gis_platform.web.deps import ConnDep

_CHALLENGE = 'Bearer realm="gis-platform"'


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits bearer tokens of ``role`` or above."""

    async def dependency(request: Request, conn: ConnDep) -> Principal:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            # 401 must carry WWW-Authenticate (RFC 6750), which the problem handler keeps for HTTPException
            raise HTTPException(401, "This request needs a bearer token (Authorization: Bearer …).",
                                headers={"WWW-Authenticate": _CHALLENGE})  # fmt: skip
        principal = await authenticate(conn, token.strip())
        if principal is None:
            raise HTTPException(401, "The bearer token is unknown or revoked.",
                                headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})  # fmt: skip
        if not principal.has_role(role):
            raise HTTPException(403, f"This request needs the {role} role; the token has {principal.role}.")
        request.state.principal = principal
        set_caller(principal.role, getattr(request.state, "request_id", None))
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


ViewerDep = Annotated[Principal, Depends(require("viewer"))]
EditorDep = Annotated[Principal, Depends(require("editor"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]


async def get_access(request: Request) -> Access:
    """Who reads: anonymous without ``Authorization``; a bad or revoked token is 401 (never anonymous).

    The connection is taken only when a token is presented, so anonymous reads cost nothing more.
    """
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        return ANONYMOUS
    if not token:
        raise HTTPException(401, "Use a bearer token (Authorization: Bearer …) or none.",
                            headers={"WWW-Authenticate": _CHALLENGE})  # fmt: skip
    db: Database = request.app.state.db
    async with db.connection() as conn:
        principal = await authenticate(conn, token)
    if principal is None:
        raise HTTPException(401, "The bearer token is unknown or revoked.",
                            headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})  # fmt: skip
    request.state.principal = principal
    set_caller(principal.role, getattr(request.state, "request_id", None))
    return Access(principal)


#: The caller of a read and what it may see: ``access.internal`` / ``access.can_see(layer.visibility)``.
#: Every route that reaches a layer takes it and answers 404 for a layer it may not see.
VisibilityDep = Annotated[Access, Depends(get_access)]
