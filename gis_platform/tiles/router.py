"""Vector tile routes: XYZ tiles (current and versioned), TileJSON, OGC API - Tiles, styles.

The tile routes return a plain ``Response`` of cached bytes with precomputed ETags: no model, no JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from gis_platform.auth.deps import VisibilityDep
from gis_platform.tiles import styles, tilejson
from gis_platform.tiles.deps import BaseUrlDep, TileServiceDep
from gis_platform.tiles.http import RawResponse, render_tile, tile_access, tile_cache_control
from gis_platform.tiles.models import TileJSON, TileSetList
from gis_platform.tiles.service import InvalidTileParameter, LayerNotFound, TileNotFound, TileService

router = APIRouter(tags=["tiles"])

MVT = "application/vnd.mapbox-vector-tile"
#: Query parameters of a join (statistics onto admin units), kept in a joined TileJSON's tile URLs.
JOIN_PARAMETERS = ("join", "period", "at")
_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT: {}}, "description": "The tile (gzip when the client accepts it)."},
    204: {"description": "The tile has no features."},
    304: {"description": "Not modified (If-None-Match)."},
    404: {
        "description": "Unknown layer or version, or a tile outside the layer's zoom range or the tile matrix."
    },
}
Slugs = Annotated[str, Path(description="A layer slug, or several joined by commas (one composite tile).")]
Z = Annotated[int, Path(description="Zoom level.")]
X = Annotated[int, Path(description="Column.")]
Y = Annotated[int, Path(description="Row.")]


def _json(body: Any, max_age: int = 60, *, public: bool = True) -> Response:
    return Response(
        orjson.dumps(body),
        media_type="application/json",
        headers={"Cache-Control": f"{'public' if public else 'private'}, max-age={max_age}"},
    )


async def _serve(request: Request, slugs: str, versions: str | None, z: int, x: int, y: int) -> Response:
    # no dependency injection here: it would cost more than serving a cached tile
    service: TileService = request.app.state.tiles
    headers = request.headers
    authorization = headers.get("authorization")
    internal = False
    if authorization is not None:
        internal = await tile_access(request.app, authorization.encode("latin-1"))
    if "join" in request.query_params:  # statistics joined in (?join=indicator,…)
        provider = getattr(request.app.state, "tile_join_provider", None)
        params = request.query_params.multi_items()
        ref = await service.resolve_joined(slugs, versions, params, provider, internal=internal)
    else:
        ref = await service.resolve(slugs, versions, internal=internal)
    tile = await service.tile(ref, z, x, y)
    match = headers.get("if-none-match")
    status, raw, body = render_tile(
        tile,
        headers.get("accept-encoding", "").encode("latin-1"),
        match.encode("latin-1") if match is not None else None,
        tile_cache_control(ref, service.short_cache_control),
    )
    return RawResponse(status, raw, body)


def _int(value: str, name: str) -> int:
    if value.isascii() and value.isdigit():  # plain digits: no sign, no spaces, no other scripts' digits
        if len(value) > 12:
            raise TileNotFound(f"Tile coordinate {name} is out of range.", parameter=name)
        return int(value)
    if value.startswith("-") and value[1:].isdigit():
        raise TileNotFound(f"Tile coordinate {name} must not be negative.", parameter=name)
    raise InvalidTileParameter(name, f"Tile coordinate {name} must be an integer, not {value[:40]!r}.")


class TileRoute(APIRoute):
    """A route documented like any other, but served without FastAPI's parameter machinery.

    Parsing and validating four path parameters through dependency resolution costs more than
    serving a tile from memory, so the handler reads ``path_params`` itself.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Return the fast handler."""

        async def handler(request: Request) -> Response:
            p = request.path_params
            if "tileMatrix" in p:  # OGC API - Tiles: row (y) before column (x)
                slugs, z, x, y = p["slug"], p["tileMatrix"], p["tileCol"], p["tileRow"]
            else:
                slugs, z, x, y = p["slugs"], p["z"], p["x"], p["y"]
            return await _serve(request, slugs, p.get("versions"), _int(z, "z"), _int(x, "x"), _int(y, "y"))

        return handler


tile_router = APIRouter(tags=["tiles"], route_class=TileRoute)


@tile_router.get("/tiles/{slugs}/{z}/{x}/{y}.mvt", name="tiles:tile", summary="Vector tile of the current version",
            response_class=Response, responses=_TILE_RESPONSES)  # fmt: skip
async def tile(request: Request, slugs: Slugs, z: Z, x: X, y: Y) -> Response:
    """Serve a Mapbox Vector Tile of the layers' published versions (short cache lifetime)."""
    return await _serve(request, slugs, None, z, x, y)


@tile_router.get("/tiles/{slugs}/{z}/{x}/{y}.pbf", name="tiles:tile-pbf", summary="Vector tile (.pbf)",
            response_class=Response, responses=_TILE_RESPONSES, include_in_schema=False)  # fmt: skip
async def tile_pbf(request: Request, slugs: Slugs, z: Z, x: X, y: Y) -> Response:
    """Serve the same tile as ``.mvt``."""
    return await _serve(request, slugs, None, z, x, y)


@tile_router.get("/tiles/{slugs}/v{versions}/{z}/{x}/{y}.mvt", name="tiles:versioned-tile",
            summary="Vector tile of given versions (immutable)", response_class=Response,
            responses=_TILE_RESPONSES)  # fmt: skip
async def versioned_tile(
    request: Request,
    slugs: Slugs,
    versions: Annotated[str, Path(description="One version number per layer, joined by commas.")],
    z: Z,
    x: X,
    y: Y,
) -> Response:
    """Serve a tile of exact layer versions; the URL never changes content, so it is cached for a year."""
    return await _serve(request, slugs, versions, z, x, y)


@tile_router.get("/tiles/{slugs}/v{versions}/{z}/{x}/{y}.pbf", name="tiles:versioned-tile-pbf",
            response_class=Response, responses=_TILE_RESPONSES, include_in_schema=False)  # fmt: skip
async def versioned_tile_pbf(request: Request, slugs: Slugs, versions: str, z: Z, x: X, y: Y) -> Response:
    """Serve the same tile as ``.mvt``."""
    return await _serve(request, slugs, versions, z, x, y)


@router.get("/tiles/{slugs}.json", name="tiles:tilejson", summary="TileJSON 3.0.0 of a layer or composite",
            response_model=TileJSON)  # fmt: skip
async def tilejson_document(
    request: Request, service: TileServiceDep, base: BaseUrlDep, access: VisibilityDep, slugs: Slugs
) -> Response:
    """Describe the tileset; its tile URLs carry the published versions, so a publish changes them."""
    for slug in slugs.split(","):
        await service.catalog.current_version(slug)
    if "join" in request.query_params:  # statistics joined in: listed in vector_layers, kept in the tile URLs
        provider = getattr(request.app.state, "tile_join_provider", None)
        params = request.query_params.multi_items()
        ref = await service.resolve_joined(slugs, None, params, provider, internal=access.internal)
        query = urlencode([(k, v) for k, v in params if k in JOIN_PARAMETERS])
        return _json(tilejson.tilejson(ref, base, query), public=ref.public)
    ref = await service.resolve(slugs, internal=access.internal)
    return _json(tilejson.tilejson(ref, base), public=ref.public)


@router.get("/collections/{slug}/tiles", name="tiles:tilesets", summary="OGC API - Tiles: tilesets of a collection",
            response_model=TileSetList)  # fmt: skip
async def collection_tilesets(
    service: TileServiceDep, base: BaseUrlDep, access: VisibilityDep, slug: str
) -> Response:
    """List the vector tilesets of a layer (Web Mercator)."""
    ref = await service.resolve(slug, internal=access.internal)
    return _json(tilejson.tilesets(ref, base), public=ref.public)


@router.get("/collections/{slug}/tiles/WebMercatorQuad", name="tiles:tileset",
            summary="OGC API - Tiles: a tileset of a collection")  # fmt: skip
async def collection_tileset(
    service: TileServiceDep, base: BaseUrlDep, access: VisibilityDep, slug: str
) -> Response:
    """Describe the layer's Web-Mercator tileset with its tile matrix limits."""
    ref = await service.resolve(slug, internal=access.internal)
    return _json(tilejson.tileset(ref, base), public=ref.public)


@tile_router.get("/collections/{slug}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}", name="tiles:ogc-tile",
            summary="OGC API - Tiles: a vector tile", response_class=Response, responses=_TILE_RESPONSES)  # fmt: skip
async def collection_tile(
    request: Request,
    slug: str,
    tile_matrix: Annotated[int, Path(alias="tileMatrix", description="Zoom level.")],
    tile_row: Annotated[int, Path(alias="tileRow", description="Row (y).")],
    tile_col: Annotated[int, Path(alias="tileCol", description="Column (x).")],
) -> Response:
    """Serve the tile of the current version (the OGC path puts the row before the column)."""
    return await _serve(request, slug, None, tile_matrix, tile_col, tile_row)


@router.get("/styles/{slug}.json", name="tiles:style", summary="MapLibre style of a layer", tags=["styles"])
async def layer_style(
    service: TileServiceDep, base: BaseUrlDep, access: VisibilityDep, slug: str
) -> Response:
    """A complete MapLibre style (version 8) drawing the layer from its TileJSON."""
    layer = await service.catalog.find(slug)
    if layer is None or not access.can_see(layer.visibility):
        raise LayerNotFound(f"No public layer {slug!r}.", layer_id=slug)
    settings = service.settings
    style = styles.layer_style(layer, base, settings.styles_dir, settings.glyphs_url)
    return _json(style, public=layer.public)


router.include_router(tile_router)
