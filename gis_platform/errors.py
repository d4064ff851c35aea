"""Domain errors; the web layer renders each as an RFC 9457 problem."""

from __future__ import annotations

from typing import Any, ClassVar


class PlatformError(Exception):
    """Base of every error a user can cause or see.

    Subclasses set ``type`` (a slug under ``/problems/``), ``title`` and ``status``; instances carry a
    ``detail`` and extension members (``parameter``, ``layer_id``, ``errors`` …).
    """

    type: ClassVar[str] = "platform-error"
    title: ClassVar[str] = "Platform error"
    status: ClassVar[int] = 500

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(PlatformError):
    """A resource that does not exist (or that the caller may not see)."""

    type = "not-found"
    title = "Not found"
    status = 404


class InvalidParameter(PlatformError):
    """A query or path parameter that does not validate."""

    type = "invalid-parameter"
    title = "Invalid parameter"
    status = 400

    def __init__(self, parameter: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail, parameter=parameter, **extensions)


class DatabaseUnavailable(PlatformError):
    """The database does not answer."""

    type = "database-unavailable"
    title = "Database unavailable"
    status = 503
