"""HTTP routes of the layer catalogue: search, one layer, categories."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from gis_platform.auth.deps import AdminDep, VisibilityDep
from gis_platform.catalogue import editing, service
from gis_platform.catalogue.manifest import SLUG_PATTERN
from gis_platform.catalogue.models import (
    CategoryList,
    GeometryFilter,
    LayerDetail,
    LayerList,
    LayerPatch,
    Link,
)
from gis_platform.web.deps import ConnDep, ReadConnDep, SettingsDep

router = APIRouter(prefix="/catalogue", tags=["catalogue"])

PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters (PostgreSQL text cannot hold NUL)
SlugPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="The layer's slug.")]


def _base_url(request: Request, settings: SettingsDep) -> str:
    return settings.api.public_url or str(request.base_url)


def _page_links(request: Request, offset: int, limit: int, returned: int, matched: int) -> list[Link]:
    url = request.url
    links = [Link(href=str(url), rel="self", type="application/json")]
    if offset + returned < matched:
        links.append(
            Link(
                href=str(url.include_query_params(offset=offset + limit)), rel="next", type="application/json"
            )
        )
    if offset > 0:
        links.append(
            Link(
                href=str(url.include_query_params(offset=max(0, offset - limit))),
                rel="prev",
                type="application/json",
            )
        )
    return links


@router.get(
    "/layers", name="catalogue:layers", response_model=LayerList, summary="Search the layer catalogue"
)
async def list_layers(
    request: Request,
    conn: ReadConnDep,
    settings: SettingsDep,
    access: VisibilityDep,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=PRINTABLE,
            description="Words to search for; diacritics optional, typos tolerated.",
        ),
    ] = None,
    category: Annotated[
        str | None, Query(pattern=r"^[a-z][a-z0-9_-]{0,62}$", description="Category id.")
    ] = None,
    agency: Annotated[
        str | None,
        Query(
            min_length=1, max_length=200, pattern=PRINTABLE, description="Owner agency (diacritics optional)."
        ),
    ] = None,
    geometry_type: Annotated[GeometryFilter | None, Query(description="Geometry type of the layer.")] = None,
    synthetic: Annotated[
        bool | None, Query(description="Only synthetic (true) or real (false) data.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Layers to skip.")] = 0,
) -> LayerList:
    """List the layers the caller may see (internal ones need a token), ranked by relevance to ``q``.

    Filtered by category, agency, geometry and origin.
    """
    layers, matched = await service.search_layers(
        conn,
        q=q,
        category=category,
        agency=agency,
        geometry_type=geometry_type.value if geometry_type else None,
        synthetic=synthetic,
        limit=limit,
        offset=offset,
        base_url=_base_url(request, settings),
        internal=access.internal,
    )
    links = _page_links(request, offset, limit, len(layers), matched)
    return LayerList(layers=layers, numberMatched=matched, numberReturned=len(layers), links=links)


@router.get(
    "/layers/{slug}", name="catalogue:layer", response_model=LayerDetail, summary="One layer and its versions"
)
async def get_layer(
    request: Request, conn: ReadConnDep, settings: SettingsDep, access: VisibilityDep, slug: SlugPath
) -> LayerDetail:
    """Return a layer's metadata, attribute schema, style, tile hints and versions (404 if not visible)."""
    return await service.get_layer(conn, slug, _base_url(request, settings), access.internal)


_ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or bad token"}, 403: {"description": "Not an admin"},
    404: {"description": "No such layer"},
}  # fmt: skip


@router.patch(
    "/layers/{slug}", name="catalogue:patch_layer", response_model=LayerDetail,
    summary="Change a layer's metadata or visibility (admin)", responses=_ADMIN_RESPONSES,
)  # fmt: skip
async def patch_layer(
    request: Request,
    conn: ConnDep,
    settings: SettingsDep,
    principal: AdminDep,
    slug: SlugPath,
    body: LayerPatch,
) -> LayerDetail:
    """Merge a JSON patch into a layer's metadata (titles, descriptions, category, agency, licence …).

    Visibility too (``{"visibility": "internal"}``); audited, and every worker hears of it at once.
    """
    await editing.patch_layer(conn, slug, body, actor=principal.actor)
    return await service.get_layer(conn, slug, _base_url(request, settings), internal=True)


@router.delete(
    "/layers/{slug}", name="catalogue:delete_layer", status_code=204, response_class=Response,
    summary="Delete a layer with all its versions (admin)", responses=_ADMIN_RESPONSES,
)  # fmt: skip
async def delete_layer(conn: ConnDep, principal: AdminDep, slug: SlugPath) -> Response:
    """Remove the layer, its data tables and view in one transaction (audited)."""
    await editing.delete_layer(conn, slug, actor=principal.actor)
    return Response(status_code=204)


@router.get("/categories", name="catalogue:categories", response_model=CategoryList, summary="Categories")
async def list_categories(conn: ReadConnDep, access: VisibilityDep) -> CategoryList:
    """List the categories with their number of layers the caller may see."""
    return await service.list_categories(conn, access.internal)
