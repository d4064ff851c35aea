"""Dependencies of the tile routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gis_platform.tiles.service import TileService


async def get_tile_service(request: Request) -> TileService:
    """The app's tile service (built by ``start_tiles`` in the lifespan)."""
    service: TileService = request.app.state.tiles
    return service


async def base_url(request: Request) -> str:
    """The public base URL of the API, without a trailing slash."""
    public = request.app.state.settings.api.public_url
    return str(public or request.base_url).rstrip("/")


TileServiceDep = Annotated[TileService, Depends(get_tile_service)]
BaseUrlDep = Annotated[str, Depends(base_url)]
