"""``GET /``: the landing page, HTML for browsers and JSON with links for clients."""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

router = APIRouter(tags=["landing"])


def _links(request: Request) -> list[dict[str, str]]:
    base = str(request.base_url).rstrip("/")
    return [
        {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "This document"},
        {"href": f"{base}/api", "rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0",
         "title": "OpenAPI definition"},
        {"href": f"{base}/api.html", "rel": "service-doc", "type": "text/html", "title": "API documentation"},
        {"href": f"{base}/health", "rel": "status", "type": "application/json", "title": "Service health"},
        {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json",
         "title": "OGC API conformance classes"},
        {"href": f"{base}/collections", "rel": "data", "type": "application/json",
         "title": "Layers as OGC API - Features collections"},
        # OGC clients (GDAL, OWSLib) read rel=data as the collections: the units are only related
        {"href": f"{base}/admin/units", "rel": "related", "type": "application/json",
         "title": "Administrative units (wards, districts, city) on any date"},
    ]  # fmt: skip


def wants_html(request: Request) -> bool:
    """True when the client prefers HTML (a browser) over JSON, or asked with ``f=html``."""
    fmt = request.query_params.get("f")
    if fmt:
        return fmt == "html"
    accept = request.headers.get("accept", "")
    html_at, json_at = accept.find("text/html"), accept.find("json")
    return html_at >= 0 and (json_at < 0 or html_at < json_at)


@router.get("/", name="landing", summary="Landing page with links to every part of the API")
async def landing(request: Request) -> Response:
    """Return the landing page."""
    title = request.app.title
    body: dict[str, Any] = {
        "title": title,
        "description": "Open GIS data platform for Ho Chi Minh City's wards: layers, tiles, features, statistics.",
        "links": _links(request),
    }
    if not wants_html(request):
        return JSONResponse(body)
    items = "\n".join(
        f'<li><a href="{html.escape(link["href"])}">{html.escape(link["title"])}</a></li>'
        for link in body["links"]
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{html.escape(title)}</h1><p>{html.escape(body["description"])}</p>
<ul>{items}</ul></main></body></html>"""
    return HTMLResponse(page)
