"""The planners' web map (``GET /map``), the upload page (``GET /map/upload``) and their static files.

Pages are HTML templates under ``static/map/`` whose asset URLs carry a version: our own files live
under ``/static/v/<build>/…`` (``<build>`` changes whenever one of them changes) and the vendored
libraries under ``/static/vendor/<package>/<version>/…``. Versioned URLs are served with a one-year
``immutable`` cache; everything is gzip-compressed for clients that accept it (pre-compressed ``.gz``
siblings from the asset build, or compressed once in memory).
"""

from __future__ import annotations

import gzip
import hashlib
import html
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from gis_platform.errors import NotFound
from gis_platform.web.assets import COMPRESSIBLE, STATIC_ROOT, VENDOR_ROOT, vendored
from gis_platform.web.deps import SettingsDep

router = APIRouter(tags=["web map"])

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: The two boundary sets planners compare: before and after the 2025 ward reform.
BOUNDARY_DATES = {"before": "2025-03-01", "after": "2026-01-01"}
MAPLIBRE_FILES = ("maplibre-gl-csp.js", "maplibre-gl-csp-worker.js", "maplibre-gl.css")
_VERSIONED = re.compile(r"^v/(?P<build>[0-9a-f]{8,40})/(?P<rest>.+)$")
_VENDOR = re.compile(r"^vendor/[a-z0-9@._-]+/\d[0-9A-Za-z.+-]*/")
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}


@dataclass
class StaticFiles:
    """Our static files: their build id, and a memo of compressed bodies."""

    root: Path = STATIC_ROOT
    vendor_root: Path = VENDOR_ROOT
    _gzipped: dict[tuple[str, int, int], bytes] = field(default_factory=dict)

    def build_id(self) -> str:
        """A short hash over the name, size and mtime of every non-vendored file (cheap: a few stats)."""
        digest = hashlib.sha256()
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and self.vendor_root not in path.parents and path.suffix != ".gz":
                st = path.stat()
                digest.update(f"{path.relative_to(self.root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:12]

    def resolve(self, rel: str) -> Path:
        """The file at ``rel`` inside the static root; :class:`NotFound` for anything else."""
        pure = PurePosixPath(rel)
        parts = pure.parts
        # an absolute rel ("/static//etc/passwd") would make joinpath leave the root
        bad = (
            pure.is_absolute() or any(p in ("", ".", "..") or p.startswith(".") for p in parts) or "\\" in rel
        )
        if not parts or bad:
            raise NotFound(f"No static file {rel!r}.")
        path = self.root.joinpath(*parts)
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise NotFound(f"No static file {rel!r}.")
        # Page templates are only served rendered, through their routes.
        if path.suffix in (".html", ".gz") or not path.is_file():
            raise NotFound(f"No static file {rel!r}.")
        return path

    def gzipped(self, path: Path) -> bytes:
        """The gzip body of ``path``: its pre-built ``.gz`` sibling, or compressed once and memoised."""
        sibling = path.with_name(path.name + ".gz")
        if sibling.is_file() and sibling.stat().st_mtime_ns >= path.stat().st_mtime_ns:
            return sibling.read_bytes()
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        body = self._gzipped.get(key)
        if body is None:
            body = gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)
            self._gzipped[key] = body
        return body


def get_static_files(request: Request) -> StaticFiles:
    """The app's :class:`StaticFiles` (created on first use)."""
    files: StaticFiles | None = getattr(request.app.state, "web_static", None)
    if files is None:
        files = StaticFiles()
        request.app.state.web_static = files
    return files


StaticDep = Annotated[StaticFiles, Depends(get_static_files)]


def _page_config(request: Request, settings: Any) -> dict[str, Any]:
    """What the page script needs from the server, embedded as a data attribute (no inline script)."""
    web = getattr(settings, "web", None)
    return {
        "basemapStyleUrl": getattr(web, "basemap_style_url", None),
        "boundaryDates": BOUNDARY_DATES,
        "defaultView": {"center": [106.70, 10.78], "zoom": 11},
        "title": request.app.title,
    }


def _render(name: str, request: Request, files: StaticFiles, settings: Any) -> HTMLResponse:
    maplibre = vendored("maplibre-gl", MAPLIBRE_FILES, files.vendor_root)
    template = (files.root / "map" / name).read_text(encoding="utf-8")
    values = {
        "asset_base": f"/static/v/{files.build_id()}",
        "maplibre_base": f"/static/{maplibre.url_path}",
        "config": html.escape(orjson.dumps(_page_config(request, settings)).decode(), quote=True),
    }
    page = re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)
    return HTMLResponse(page, headers={"Cache-Control": REVALIDATE})


@router.get("/map", name="map:page", response_class=HTMLResponse, summary="The planners' web map")
async def map_page(request: Request, settings: SettingsDep, files: StaticDep) -> HTMLResponse:
    """Serve the map page (503 problem when the browser libraries were not built)."""
    return _render("index.html", request, files, settings)


@router.get(
    "/map/upload", name="map:upload", response_class=HTMLResponse, summary="Upload and publish layer data"
)
async def upload_page(request: Request, settings: SettingsDep, files: StaticDep) -> HTMLResponse:
    """Serve the GIS staff's upload page."""
    return _render("upload.html", request, files, settings)


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"], name="static", include_in_schema=False)
async def static_file(request: Request, path: str, files: StaticDep) -> Response:
    """Serve a static file, compressed when accepted, immutable when its URL is versioned."""
    cache = REVALIDATE
    match = _VERSIONED.match(path)
    if match:
        path = match["rest"]
        # A stale build id still gets the current file, but must not be cached for a year.
        cache = IMMUTABLE if match["build"] == files.build_id() else REVALIDATE
    elif _VENDOR.match(path):
        cache = IMMUTABLE
    file = files.resolve(path)
    st = file.stat()
    media_type = _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    compress = file.suffix in COMPRESSIBLE and "gzip" in request.headers.get("accept-encoding", "")
    etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}{"-gz" if compress else ""}"'
    headers = {"Cache-Control": cache, "ETag": etag, "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if compress:
        headers["Content-Encoding"] = "gzip"
        body = files.gzipped(file)
    else:
        body = file.read_bytes()
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=media_type)
    return Response(body, headers=headers, media_type=media_type)
