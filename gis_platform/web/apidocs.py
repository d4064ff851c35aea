"""``GET /api.html``: browsable API docs with Swagger UI served from our own static files (no CDN)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from gis_platform.web.assets import vendored

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ward GIS Platform API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/{base}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/{base}/swagger-ui-bundle.js"></script>
<script src="/static/apidocs/init.js"></script></body></html>"""


@router.get("/api.html", name="api-docs")
async def api_docs() -> HTMLResponse:
    """The OpenAPI document rendered by Swagger UI."""
    package = vendored("swagger-ui-dist", ("swagger-ui-bundle.js", "swagger-ui.css"))
    return HTMLResponse(_PAGE.format(base=package.url_path))
