"""HTTP routes of OGC API - Features: conformance, collections, queryables, items, download."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from gis_platform.auth.deps import VisibilityDep
from gis_platform.features import documents, html, openapi, params, responses, service
from gis_platform.features.connections import FeatureConnections
from gis_platform.features.deps import (
    CollectionDep,
    FeaturesConnDep,
    ItemFormatDep,
    ItemsFormatDep,
    MetaFormatDep,
    TimeExtentsDep,
    UrlsDep,
    features_connections,
)
from gis_platform.features.links import JSON, SCHEMA


@asynccontextmanager
async def _lifespan(app: Any) -> AsyncIterator[None]:
    """Open the features' pools (connecting on first use) after the app's database, close them at the end."""
    db = getattr(app.state, "db", None)
    if db is not None and getattr(app.state, "features_connections", None) is None:
        app.state.features_connections = FeatureConnections(db.dsn, app.state.settings.db, database=db)
    try:
        yield
    finally:
        connections = getattr(app.state, "features_connections", None)
        if connections is not None:
            app.state.features_connections = None
            await connections.close()


router = APIRouter(tags=["features"], lifespan=_lifespan)
_META = {"parameters": openapi.META}


def _render(fmt: str, doc: dict[str, Any], page: Any, media_type: str = JSON) -> Response:
    return HTMLResponse(page()) if fmt == "html" else JSONResponse(doc, media_type=media_type)


@router.get("/conformance", name="features:conformance", summary="Conformance classes", openapi_extra=_META)
async def conformance(urls: UrlsDep, fmt: MetaFormatDep) -> Response:
    """The OGC API conformance classes this server implements."""
    doc = documents.conformance(urls, fmt)
    return _render(fmt, doc, lambda: html.conformance_page(doc, urls.to))


@router.get("/collections", name="features:collections", summary="Every published layer", openapi_extra=_META)
async def collections(
    conn: FeaturesConnDep, urls: UrlsDep, fmt: MetaFormatDep, extents: TimeExtentsDep, access: VisibilityDep
) -> Response:
    """The published layers the caller may see as OGC API collections."""
    layers = await service.list_collections(conn, access.internal)
    docs = [documents.collection_doc(c, urls, await extents.get(conn, c)) for c in layers]
    doc = documents.collections_doc(docs, urls, fmt)
    return _render(fmt, doc, lambda: html.collections_page(doc, urls.to))


@router.get(
    "/collections/{collectionId}", name="features:collection", summary="One collection", openapi_extra=_META
)
async def collection(
    conn: FeaturesConnDep, layer: CollectionDep, urls: UrlsDep, fmt: MetaFormatDep, extents: TimeExtentsDep
) -> Response:
    """A layer's metadata: extents, CRS, links to items, queryables, tiles, style and downloads."""
    doc = documents.collection_doc(layer, urls, await extents.get(conn, layer))
    return _render(fmt, doc, lambda: html.collection_page(doc, urls.to))


@router.get(
    "/collections/{collectionId}/queryables",
    name="features:queryables",
    summary="Queryable properties (JSON Schema)",
    openapi_extra=_META,
)
async def queryables(layer: CollectionDep, urls: UrlsDep, fmt: MetaFormatDep) -> Response:
    """The properties usable in ``filter``, ``sortby``, ``properties`` and ``?name=value``."""
    doc = documents.queryables(layer, urls)
    return _render(fmt, doc, lambda: html.queryables_page(doc, urls.to, layer.slug), SCHEMA)


@router.get(
    "/collections/{collectionId}/items",
    name="features:items",
    summary="Features of a collection",
    openapi_extra={"parameters": openapi.ITEMS},
    responses=openapi.GEOJSON_RESPONSE,
    response_class=Response,
)
async def items(
    request: Request, conn: FeaturesConnDep, layer: CollectionDep, urls: UrlsDep, fmt: ItemsFormatDep
) -> Response:
    """A page of features: filtered, sorted, projected, as GeoJSON, HTML or CSV; streamed."""
    given = request.query_params.multi_items()
    members: dict[str, Any] | None = None
    provider = getattr(request.app.state, "feature_join_provider", None)
    if provider is not None and any(k == "join" for k, _ in given):  # statistics onto admin units
        layer, given, members = await provider(conn, layer, given)
    query = await params.items_query(given, layer)
    pools = features_connections(request.app)
    side = pools.connection if pools.spare() else None
    rows = await service.open_rows(conn, layer, query, responses.OUTPUTS[fmt], side=side)
    return await responses.page_response(fmt, rows, urls, layer, query, members)


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    name="features:item",
    summary="One feature",
    openapi_extra={"parameters": openapi.ITEM},
    responses=openapi.GEOJSON_RESPONSE,
    response_class=Response,
)
async def item(
    request: Request,
    conn: FeaturesConnDep,
    layer: CollectionDep,
    urls: UrlsDep,
    fmt: ItemFormatDep,
    feature_id: Annotated[str, Path(alias="featureId", description="The feature id (fid).")],
) -> Response:
    """One feature by its id, with links to its collection."""
    query = params.item_query(request.query_params.multi_items(), layer, feature_id)
    row = await service.get_feature(conn, layer, query, responses.OUTPUTS[fmt])
    return responses.item_response(fmt, row, urls, layer, query)


@router.get(
    "/collections/{collectionId}/download",
    name="features:download",
    summary="The whole layer as a file",
    openapi_extra={"parameters": openapi.DOWNLOAD},
    responses=openapi.DOWNLOAD_RESPONSE,
    response_class=Response,
)
async def download_layer(request: Request, conn: FeaturesConnDep, layer: CollectionDep) -> Response:
    """Stream the whole layer as GeoJSON, CSV (WKT), GeoPackage or zipped Shapefile."""
    fmt = params.download_format(request.query_params.multi_items())
    return await responses.download_response(conn, layer, fmt)
