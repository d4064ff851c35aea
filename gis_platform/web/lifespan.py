"""Run a capability's start-up and shut-down inside the app's lifespan (after the pool and events exist)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI


def nest_lifespan(app: FastAPI, inner: Callable[[FastAPI], AbstractAsyncContextManager[None]]) -> None:
    """Enter ``inner(app)`` inside the app's current lifespan (which opened the pool) and leave it first."""
    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        context: AbstractAsyncContextManager[Any] = outer(a)
        async with context as state, inner(a):
            yield state

    app.router.lifespan_context = lifespan
