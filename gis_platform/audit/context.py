"""Who is writing, for the audit log: set by the auth dependencies, read wherever a write is recorded.

A context variable follows the request into ``run_in_threadpool`` and (copied explicitly) into ingest
jobs, so writes deep in the ingest pipeline are recorded with the caller's role and request id.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """The role and request id of the current write (both optional: CLI writes have neither)."""

    role: str | None = None
    request_id: str | None = None


_CALLER: ContextVar[Caller | None] = ContextVar("gis_audit_caller", default=None)


def set_caller(role: str | None, request_id: str | None) -> None:
    """Remember the caller of the current request (or job)."""
    _CALLER.set(Caller(role, request_id))


def current_caller() -> Caller:
    """The caller of the current request, or an empty one."""
    return _CALLER.get() or Caller()
