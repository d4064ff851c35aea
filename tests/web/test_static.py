"""Map pages and static files over HTTP: CSP-safe markup, compression, cache lifetimes, 503 without assets."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from gis_platform.web.assets import STATIC_ROOT, build, vendored
from gis_platform.web.map import StaticFiles

pytestmark = pytest.mark.db
MAP_DIR = STATIC_ROOT / "map"


@pytest.fixture(scope="module")
def http(web: Any) -> Any:
    server, _ = web
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_pages_use_only_versioned_same_origin_scripts(http: httpx.Client) -> None:
    for path in ("/map", "/map/upload"):
        response = http.get(path)
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page = response.text
        scripts = re.findall(r"<script\b([^>]*)>", page)
        assert scripts and all('src="/static/' in attrs for attrs in scripts), "no inline scripts"
        assert "{{" not in page and "http://" not in page and "https://" not in page
        for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
            assert http.get(url).status_code == 200, url


@pytest.mark.parametrize(("page", "entry"), [("/map", "app.js"), ("/map/upload", "upload.js")])
def test_the_module_graph_is_preloaded(http: httpx.Client, page: str, entry: str) -> None:
    """Every module a page imports is announced up front (no import waterfall on first render)."""
    graph, todo = set(), [entry]
    while todo:
        name = todo.pop()
        if name not in graph:
            graph.add(name)
            todo += re.findall(r"from '\./([\w-]+\.js)'", (MAP_DIR / name).read_text(encoding="utf-8"))
    html = http.get(page).text
    preloaded = set(
        re.findall(r'<link rel="modulepreload" href="/static/v/[0-9a-f]+/map/([\w-]+\.js)">', html)
    )
    assert preloaded == graph - {entry}


def test_assets_are_compressed_and_cached_for_a_year(http: httpx.Client) -> None:
    page = http.get("/map").text
    app_js = re.search(r'src="(/static/v/[0-9a-f]+/map/app\.js)"', page)
    vendor_js = re.search(r'src="(/static/vendor/maplibre-gl/[^"]+\.js)"', page)
    assert app_js and vendor_js
    for url in (app_js[1], vendor_js[1]):
        response = http.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-type"].startswith("text/javascript")
        again = http.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
    raw = http.get(vendor_js[1], headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and len(raw.content) > 500_000
    # An old build id still answers, but must not be cached for a year.
    stale = http.get("/static/v/0000000000aa/map/app.js")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path", ["map/../../map.py", "map/index.html", ".hidden", "map/nothing.js", "vendor/manifest.json.gz"]
)
def test_static_route_serves_nothing_else(http: httpx.Client, path: str) -> None:
    response = http.get(f"/static/{path}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_map_answers_503_when_the_assets_were_not_built(web: Any, tmp_path: Path) -> None:
    server, _ = web
    app = server.server.config.app
    original = getattr(app.state, "web_static", None)
    app.state.web_static = StaticFiles(vendor_root=tmp_path)
    try:
        response = httpx.get(f"{server.url}/map")
    finally:
        app.state.web_static = original
    assert response.status_code == 503
    assert (
        response.json()["type"] == "/problems/assets-missing" and "make install" in response.json()["detail"]
    )


def test_asset_build_vendors_versions_with_gzip_siblings(tmp_path: Path) -> None:
    node_modules = STATIC_ROOT.parents[2] / "node_modules"
    if not (node_modules / "maplibre-gl").is_dir():
        pytest.skip("node_modules missing: npm ci")
    versions = build(node_modules, tmp_path)
    package = vendored("maplibre-gl", ("maplibre-gl-csp.js",), tmp_path)
    assert package.version == versions["maplibre-gl"]
    js = package.path(tmp_path) / "maplibre-gl-csp.js"
    assert gzip.decompress(js.with_name(js.name + ".gz").read_bytes()) == js.read_bytes()


def test_javascript_parses_and_dictionaries_match(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node:
        for source in MAP_DIR.glob("*.js"):
            copy = tmp_path / f"{source.stem}.mjs"
            copy.write_bytes(source.read_bytes())
            result = subprocess.run([node, "--check", str(copy)], capture_output=True, text=True, check=False)
            assert result.returncode == 0, f"{source.name}: {result.stderr}"
    text = (MAP_DIR / "i18n.js").read_text(encoding="utf-8")
    vi, en = text.split("\n  en: {", 1)
    keys = [set(re.findall(r"'([a-zA-Z]+\.[\w.]+)':", part)) for part in (vi, en.split("\n};", 1)[0])]
    assert keys[0] == keys[1] and len(keys[0]) > 100
    used = set()
    for source in [*MAP_DIR.glob("*.js"), *MAP_DIR.glob("*.html")]:
        used |= set(
            re.findall(
                r"""(?:\bt\(|data-i18n(?:-aria|-placeholder)?=)["'`]([a-zA-Z]+\.[\w]+)["'`]""",
                source.read_text(),
            )
        )
    assert used and used <= keys[0], used - keys[0]
