"""Shared FastAPI dependencies: settings, the pool and a connection per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from gis_platform.db.pool import Database
from gis_platform.settings import Settings


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    """The app's database pool."""
    db: Database = request.app.state.db
    return db


async def get_connection(db: Annotated[Database, Depends(get_database)]) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for the duration of one request."""
    async with db.connection() as conn:
        yield conn


async def get_read_connection(
    db: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for reads that may come from a replica."""
    async with db.read_connection() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ConnDep = Annotated[asyncpg.Connection, Depends(get_connection)]
ReadConnDep = Annotated[asyncpg.Connection, Depends(get_read_connection)]
