"""Browser tests of the web map: a live server with seeded layers, and Debian's chromium via Playwright.

APIs the page calls are wired from the real routers when the app lacks them and they can be
imported; otherwise from contract stubs (``stubs.py``). ``GIS_WEB_TEST_APIS`` chooses:
``auto`` (default), ``stubs`` (always the stubs) or ``real`` (skip the tests whose API is missing).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import shapely

from gis_platform.ingest.service import import_frame
from gis_platform.settings import REPO_ROOT
from gis_platform.text import fold
from tests.factories import ensure_layer, point_frame
from tests.web import stubs

CHROMIUM = os.environ.get("GIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync",
    # WebGL without a GPU: ANGLE on SwiftShader (software Vulkan), allowed explicitly.
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]  # fmt: skip
ARTIFACTS = REPO_ROOT / "test-artifacts" / "web"
MODE = os.environ.get("GIS_WEB_TEST_APIS", "auto")

#: The layers every web test module finds in its database.
SEED = [
    {"slug": "truong-hoc", "title_vi": "Trường học", "title_en": "Schools", "category": "education",
     "geometry_type": "Point", "synthetic": True, "licence": "CC0-1.0", "attribution": "Sở Giáo dục (giả lập)"},
    {"slug": "osm-cho", "title_vi": "Chợ và siêu thị", "title_en": "Markets and supermarkets", "category": "commerce",
     "geometry_type": "Point", "synthetic": False, "licence": "ODbL-1.0",
     "attribution": "© OpenStreetMap contributors"},
    {"slug": "cong-vien", "title_vi": "Công viên cây xanh", "title_en": "Parks", "category": "parks",
     "geometry_type": "Polygon", "synthetic": True, "licence": "CC0-1.0", "attribution": "Sở Xây dựng (giả lập)"},
    {"slug": "diem-kiem-tra", "title_vi": "Điểm kiểm tra tải lên", "title_en": "Upload check points",
     "category": "test", "geometry_type": "Point", "synthetic": True, "licence": "MIT", "attribution": "test"},
]  # fmt: skip
CATEGORIES = [("education", "Giáo dục", "Education"), ("commerce", "Chợ và thương mại", "Markets and commerce"),
              ("parks", "Công viên và cây xanh", "Parks and green space")]  # fmt: skip


def seed_layers(db_url: str) -> None:
    """Create the :data:`SEED` layers with published data (points, or small squares for polygons)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for cid, vi, en in CATEGORIES:
            conn.execute(
                "INSERT INTO catalogue.category (id, title_vi, title_en) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (cid, vi, en),
            )
        for i, layer in enumerate(SEED):
            ensure_layer(conn, layer["slug"], layer["geometry_type"], title_vi=layer["title_vi"],
                         title_en=layer["title_en"])  # fmt: skip
            conn.execute(
                "UPDATE catalogue.layer SET category = %(category)s, synthetic = %(synthetic)s, licence = %(licence)s,"
                " attribution = %(attribution)s, search_text = %(search)s WHERE slug = %(slug)s",
                {**layer, "search": " ".join(fold(layer[k]) for k in ("title_vi", "title_en"))},
            )
            frame = point_frame(40, seed=i + 1, bbox=(106.66, 10.75, 106.72, 10.80))
            if layer["geometry_type"] == "Polygon":
                xs, ys = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
                frame = frame.set_geometry(shapely.box(xs, ys, xs + 0.004, ys + 0.004))
            import_frame(conn, layer["slug"], frame, author="test", publish=True)
        seed_statistics(conn)


def seed_statistics(conn: psycopg.Connection[Any]) -> None:
    """A population indicator observed on the current wards, for the real statistics API (when migrated)."""
    if conn.execute("SELECT to_regclass('stats.observation')").fetchone() == (None,):
        return
    conn.execute(
        "INSERT INTO stats.indicator (code, name_vi, name_en, unit, aggregation, source, licence) "
        "VALUES ('population', 'Dân số', 'Population', 'người', 'sum', 'test', 'CC0-1.0') ON CONFLICT DO NOTHING"
    )
    conn.execute(
        "INSERT INTO stats.observation (indicator_code, boundary_version, level, unit_code, period, period_start,"
        " period_end, value, source) SELECT 'population', boundary_version, level, code, '2025', '2025-01-01',"
        " '2025-12-31', mod(code::bigint * 7919, 50000) + 5000, 'test' FROM admin.admin_unit"
        " WHERE boundary_version IN ('hcmc-wards-2025-07-01', 'hcmc-districts-2021-01-01') ON CONFLICT DO NOTHING"
    )


def _has_route(app: Any, prefix: str) -> bool:
    return any(str(getattr(route, "path", "")).startswith(prefix) for route in app.routes)


@dataclass
class Wiring:
    """Which implementation serves each capability in this module's server."""

    apis: dict[str, str] = field(default_factory=dict)

    def need(self, *capabilities: str) -> None:
        """Skip the test when a capability it needs is only stubbed and real APIs were required."""
        missing = [c for c in capabilities if self.apis.get(c) == "stub"]
        if MODE == "real" and missing:
            pytest.skip(f"API not in the repo yet: {', '.join(missing)}")


def _real(capability: str, app: Any) -> bool:
    """Include the real router of ``capability`` when it can be imported and configured."""
    try:
        if capability == "tiles":
            if not hasattr(app.state.settings, "tiles"):
                return False  # the tile service needs its settings section
            importlib.import_module("gis_platform.tiles.lifespan").install_tiles(app)
            return True
        module = importlib.import_module(f"gis_platform.{capability}.router")
    except ImportError:
        return False
    app.include_router(module.router)
    return True


def wire_apis(app: Any, db_url: str, wiring: Wiring) -> None:
    """``app_hook`` of the web tests: the map router plus every API the page calls."""
    from gis_platform.web.map import router as map_router

    if not _has_route(app, "/map"):
        app.include_router(map_router)
    capabilities: list[tuple[str, str, Callable[[], Any]]] = [
        ("catalogue", "/catalogue/categories", lambda: stubs.catalogue),
        ("tiles", "/tiles/", lambda: stubs.tiles),
        ("features", "/collections/", lambda: stubs.features),
        ("stats", "/stats/", lambda: stubs.stats),
        ("ingest", "/jobs/", lambda: stubs.ingest_router(db_url)),
    ]
    for name, prefix, stub in capabilities:
        if _has_route(app, prefix):
            wiring.apis[name] = "wired"
        elif MODE != "stubs" and _real(name, app):
            wiring.apis[name] = "real"
        else:
            app.include_router(stub())
            wiring.apis[name] = "stub"


@pytest.fixture(scope="module")
def web(make_server: Callable[..., Any], db_url: str) -> tuple[Any, Wiring]:
    """The live server of the module (seeded) and how its APIs are wired."""
    seed_layers(db_url)
    wiring = Wiring()
    server = make_server(db_url, app_hook=lambda app: wire_apis(app, db_url, wiring))
    return server, wiring


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium with software WebGL (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/install-system-deps.sh)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class PageProbe:
    """A page and what it logged: console errors and uncaught exceptions."""

    page: Any
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def page(browser: Any) -> Iterator[PageProbe]:
    """A fresh browser context (own storage) with console errors collected."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    probe = PageProbe(context.new_page())
    probe.page.on("console", lambda m: probe.errors.append(m.text) if m.type == "error" else None)
    probe.page.on("pageerror", lambda e: probe.errors.append(f"uncaught: {e}"))
    probe.page.set_default_timeout(20_000)
    yield probe
    context.close()
