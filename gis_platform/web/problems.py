"""RFC 9457 problem+json responses for every error the app returns."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gis_platform.errors import DatabaseUnavailable, PlatformError

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

_HTTP_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Content too large",
    415: "Unsupported media type",
    429: "Too many requests",
}


def problem_response(
    request: Request,
    *,
    status: int,
    type_: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """Build an ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": f"/problems/{type_}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
        # 500s are rendered outside the request-id middleware, so the header is set here too.
        headers = {**(headers or {}), "X-Request-ID": request_id}
    body.update({k: v for k, v in extensions.items() if v is not None})
    return Response(
        orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _location_parameter(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("query", "path", "body", "header", "form")]
    return ".".join(parts) if parts else None


async def _platform_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PlatformError)  # noqa: S101 - registered for this class only
    if exc.status >= 500:
        logger.error("%s: %s", exc.title, exc.detail)
    else:
        logger.info("%s %s -> %s %s", request.method, request.url.path, exc.status, exc.detail)
    return problem_response(
        request, status=exc.status, type_=exc.type, title=exc.title, detail=exc.detail, **exc.extensions
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    errors = [
        {
            "parameter": _location_parameter(e.get("loc", ())),
            "in": (e.get("loc") or ["?"])[0],
            "message": e["msg"],
        }
        for e in exc.errors()
    ]
    names = ", ".join(sorted({e["parameter"] or "?" for e in errors}))
    return problem_response(
        request,
        status=422,
        type_="invalid-parameter",
        title="Invalid parameter",
        detail=f"Invalid value for {names}: " + "; ".join(e["message"] for e in errors),
        parameter=errors[0]["parameter"] if errors else None,
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    title = _HTTP_TITLES.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}"
    slug = title.lower().replace(" ", "-")
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(
        request, status=exc.status_code, type_=slug, title=title, detail=detail, headers=headers
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    logger.warning("database unavailable on %s: %s", request.url.path, type(exc).__name__)
    err = DatabaseUnavailable("The database is not reachable; retry in a few seconds.")
    return problem_response(
        request,
        status=err.status,
        type_=err.type,
        title=err.title,
        detail=err.detail,
        headers={"Retry-After": "5"},
    )


def query_timeout_response(request: Request) -> Response:
    """The 503 problem of a statement cancelled by its ``statement_timeout``."""
    logger.warning("statement cancelled (timeout) on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        status=503,
        type_="query-timeout",
        title="Query timeout",
        detail="The query took too long; narrow it (a smaller bbox, limit or filter) or retry later.",
        headers={"Retry-After": "5"},
    )


async def _query_timeout(request: Request, exc: Exception) -> Response:
    return query_timeout_response(request)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request,
        status=500,
        type_="internal-error",
        title="Internal server error",
        detail="An unexpected error occurred; quote the request id when reporting it.",
    )


DB_DOWN_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error as problem+json."""
    app.add_exception_handler(PlatformError, _platform_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for exc_type in DB_DOWN_ERRORS:
        app.add_exception_handler(exc_type, _database_error)
    # statement_timeout (and pg_cancel_backend): a 503, never a 500
    app.add_exception_handler(asyncpg.QueryCanceledError, _query_timeout)
    app.add_exception_handler(Exception, _unexpected_error)
