"""Dependencies of the aggregates API: who may see internal layers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.exceptions import HTTPException

from gis_platform.auth.tokens import Principal, authenticate
from gis_platform.web.deps import DatabaseDep

LayerQuery = Annotated[
    str, Query(min_length=2, max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]+$", description="Layer slug.")
]


async def optional_principal(request: Request, db: DatabaseDep) -> Principal | None:
    """The caller's principal when a bearer token is sent (401 when it is bad), None when anonymous."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    principal = None
    if scheme.lower() == "bearer":
        async with db.connection() as conn:
            principal = await authenticate(conn, token.strip())
    if principal is None:
        raise HTTPException(401, "The bearer token is unknown or revoked.",
                            headers={"WWW-Authenticate": 'Bearer realm="gis-platform", error="invalid_token"'})  # fmt: skip
    return principal


OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]


def sees_internal(principal: Principal | None) -> bool:
    """Viewers and above see internal layers; anonymous callers only public ones."""
    return principal is not None and principal.has_role("viewer")
