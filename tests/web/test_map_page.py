"""The planners' map in a real browser: render, search, layers, popups, choropleth, language, shared URL."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.web.conftest import ARTIFACTS, SEED, PageProbe

pytestmark = pytest.mark.db

#: Generous ceiling against regressions; the target (< 2 s) is reported in test-artifacts/web/perf.json.
PERF_CEILING_MS = float(os.environ.get("GIS_WEB_PERF_CEILING_MS", "10000"))
#: Page loads measured (the first with the test's own assertions, then fresh browser contexts).
PERF_RUNS = int(os.environ.get("GIS_WEB_PERF_RUNS", "3"))
# Page functions are passed as arrow functions: the page's CSP forbids eval of plain expressions.
RENDERED = "() => { const g = window.__gis; const ids = g.manager.interactiveLayerIds(); " \
           "return ids.length && g.map.queryRenderedFeatures({layers: ids}).length > 0; }"  # fmt: skip


#: The page's requests (start/end in ms since navigation, bytes over the wire): the first-render waterfall.
WATERFALL = (
    "() => performance.getEntriesByType('resource').map((e) => ({name: e.name.replace(location.origin, ''),"
    " start: Math.round(e.startTime), end: Math.round(e.responseEnd), dur: Math.round(e.duration),"
    " size: e.transferSize}))"
)


def open_map(probe: PageProbe, server: Any, hash_: str = "") -> None:
    probe.page.goto(f"{server.url}/map{hash_}")
    probe.page.wait_for_selector("body[data-ready=true]")


def map_pixels(probe: PageProbe) -> np.ndarray[Any, Any]:
    """The map element as an RGB array (a real screenshot: what the user sees)."""
    png = probe.page.locator("#map").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def assert_clean(probe: PageProbe) -> None:
    assert probe.errors == [], probe.errors
    assert probe.page.text_content("#map-status") == ""


def test_map_loads_and_draws_the_boundaries(web: Any, page: PageProbe) -> None:
    server, _ = web
    open_map(page, server)
    pixels = map_pixels(page)
    page.screenshot("map-initial")
    assert_clean(page)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 20, "the canvas is blank"
    background = np.array([0xE4, 0xEC, 0xEF])
    covered = np.abs(pixels.astype(int) - background).sum(axis=2) > 12
    assert covered.mean() > 0.3, "the ward boundaries are not drawn"
    assert page.page.get_attribute("html", "lang") == "vi"
    assert page.page.evaluate("window.__perf.boundaries") > 100
    assert "thanglequoc" in page.page.text_content(".maplibregl-ctrl-attrib")


def test_diacritic_free_search_toggles_a_layer(web: Any, page: PageProbe) -> None:
    server, wiring = web
    wiring.need("catalogue", "tiles")
    open_map(page, server, "#map=13.00/10.77500/106.69000")
    before = map_pixels(page)
    page.page.fill("#cat-search", "truong hoc")
    result = page.page.locator("#cat-results label", has_text="Trường học")
    result.wait_for()
    # Keyboard only: focus the checkbox and press space.
    page.page.focus("#layer-toggle-truong-hoc")
    page.page.keyboard.press("Space")
    page.page.wait_for_function(RENDERED)
    page.page.wait_for_function("() => window.__gis.map.loaded()")
    after = map_pixels(page)
    changed = (np.abs(after.astype(int) - before.astype(int)).sum(axis=2) > 30).sum()
    assert changed > 300, f"only {changed} pixels changed"
    active = page.page.locator("#active-list li[data-slug=truong-hoc]")
    assert "giả lập" in active.text_content()
    attribution = page.page.text_content(".maplibregl-ctrl-attrib")
    assert "Sở Giáo dục" in attribution and "CC0-1.0" in attribution
    assert "OpenStreetMap" not in attribution

    page.page.fill("#cat-search", "sieu thi")
    page.page.locator("#cat-results label", has_text="Chợ và siêu thị").click()
    page.page.wait_for_selector("#active-list li[data-slug=osm-cho]")
    assert "© OpenStreetMap contributors" in page.page.text_content(".maplibregl-ctrl-attrib")
    # The newest layer is on top; move it down with the keyboard, and lower its opacity.
    order = "window.__gis.manager.slugs()"
    assert page.page.evaluate(order) == ["osm-cho", "truong-hoc"]
    page.page.focus("#active-list button[data-action=down][data-slug=osm-cho]")
    page.page.keyboard.press("Enter")
    assert page.page.evaluate(order) == ["truong-hoc", "osm-cho"]
    assert page.page.evaluate("document.activeElement.dataset.slug") == "osm-cho"
    page.page.focus("#opacity-truong-hoc")
    for _ in range(4):
        page.page.keyboard.press("ArrowLeft")
    assert page.page.evaluate("window.__gis.manager.get('truong-hoc').opacity") == pytest.approx(0.8)
    page.screenshot("map-layers")
    assert "layers=truong-hoc,osm-cho" in page.page.url
    assert_clean(page)


def test_clicking_a_feature_shows_ward_statistics(web: Any, page: PageProbe) -> None:
    server, wiring = web
    wiring.need("catalogue", "tiles", "stats")
    open_map(page, server, "#map=14.00/10.77500/106.69000&layers=truong-hoc")
    page.page.wait_for_function(RENDERED)
    point = page.page.evaluate(
        "(() => { const g = window.__gis; const f = g.map.queryRenderedFeatures("
        "{layers: g.manager.interactiveLayerIds()})[0]; const p = g.map.project(f.geometry.coordinates);"
        " return [p.x, p.y]; })()"
    )
    box = page.page.locator("#map").bounding_box()
    page.page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    popup = page.page.locator(".maplibregl-popup")
    popup.wait_for()
    try:
        page.page.wait_for_selector(".maplibregl-popup table.stats tr")
    finally:
        page.screenshot("map-popup")
    text = popup.text_content()
    assert "Trường học" in text and "Phường/xã" in text and "Dân số" in text
    page.page.locator(".maplibregl-popup button", has_text="Hồ sơ phường").click()
    page.page.wait_for_selector("#profile:not([hidden])")
    profile = page.page.text_content("#profile")
    assert "Dân số" in profile and "2025" in profile
    page.screenshot("map-ward-profile")
    assert_clean(page)


def test_choropleth_legend_has_k_classes(web: Any, page: PageProbe) -> None:
    server, wiring = web
    wiring.need("stats")
    open_map(page, server)
    page.page.check("#choro-on")
    page.page.select_option("#choro-k", "4")
    page.page.wait_for_function(
        "() => document.querySelectorAll('#choro-legend .legend-item[data-class]').length === 4"
    )
    fill = page.page.evaluate("window.__gis.map.getPaintProperty('wards-fill', 'fill-color')")
    assert fill[0] == "match" and len(fill) > 100
    page.page.wait_for_function("() => window.__gis.map.loaded()")
    page.page.locator("#choro-legend").scroll_into_view_if_needed()
    page.screenshot("map-choropleth")
    assert "indicator=population" in page.page.url and "k=4" in page.page.url
    # Before the reform there are no open ward polygons: the districts are coloured instead.
    page.page.select_option("#choro-at", "before")
    page.page.wait_for_function("() => document.getElementById('choro-status').textContent.includes('quận')")
    assert page.page.locator("#choro-legend .legend-item[data-class]").count() == 4
    assert_clean(page)


def test_language_switch_is_remembered(web: Any, page: PageProbe) -> None:
    server, _ = web
    open_map(page, server)
    assert page.page.text_content("#cat-heading") == "Danh mục lớp dữ liệu"
    page.page.click("#lang-switch")
    assert page.page.get_attribute("html", "lang") == "en"
    assert page.page.text_content("#cat-heading") == "Layer catalogue"
    assert page.page.get_attribute("#cat-search", "placeholder") == "e.g. schools"
    assert page.page.text_content("label[for=choro-on]") == "Colour wards by an indicator"
    page.screenshot("map-english")
    open_map(page, server)  # no lang in the URL: the remembered choice wins
    assert page.page.get_attribute("html", "lang") == "en"
    assert page.page.text_content("#lang-switch") == "Tiếng Việt"
    assert_clean(page)


def test_shared_url_restores_the_view_and_first_render_is_measured(web: Any, page: PageProbe) -> None:
    server, wiring = web
    wiring.need("catalogue", "tiles", "stats")
    shared = (
        "#map=13.00/10.77500/106.69000&layers=cong-vien,osm-cho,truong-hoc&indicator=population&k=3&lang=en"
    )
    open_map(page, server, shared)
    view = page.page.evaluate(
        "(() => { const m = window.__gis.map; const c = m.getCenter();"
        " return {zoom: m.getZoom(), lon: c.lng, lat: c.lat, layers: window.__gis.manager.slugs()}; })()"
    )
    assert view["zoom"] == pytest.approx(13, abs=0.01)
    assert (view["lon"], view["lat"]) == (pytest.approx(106.69, abs=1e-4), pytest.approx(10.775, abs=1e-4))
    assert view["layers"] == ["cong-vien", "osm-cho", "truong-hoc"]
    assert page.page.is_checked("#choro-on")
    assert page.page.locator("#choro-legend .legend-item[data-class]").count() == 3
    assert page.page.get_attribute("html", "lang") == "en"
    page.page.wait_for_function(RENDERED)
    page.screenshot("map-shared-url")
    # Each source is credited once: every visible layer's attribution, and the boundaries with one label.
    page.page.wait_for_function(
        "() => document.querySelector('.maplibregl-ctrl-attrib').textContent.includes('thanglequoc')"
    )
    credits = page.page.text_content(".maplibregl-ctrl-attrib")
    for layer in SEED:
        if layer["slug"] in view["layers"]:
            assert credits.count(layer["attribution"]) == 1, (layer["slug"], credits)
    assert credits.count("Boundaries:") == 1 and credits.count("thanglequoc") == 1, credits
    assert page.page.evaluate("window.__perf.layers") == 3
    assert_clean(page)
    # The first render, measured again in fresh browsers (cold cache; the server is warm by now).
    runs = [first_render(page.page)]
    for _ in range(PERF_RUNS - 1):
        context = page.page.context.browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            fresh = context.new_page()
            fresh.goto(f"{server.url}/map{shared}")
            fresh.wait_for_selector("body[data-ready=true]", timeout=60_000)
            runs.append(first_render(fresh))
        finally:
            context.close()
    times = sorted(run["firstRenderMs"] for run in runs)
    median = times[len(times) // 2]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = {"target_ms": 2000, "median_ms": median, "runs_ms": [r["firstRenderMs"] for r in runs],
              "apis": wiring.apis, "runs": runs}  # fmt: skip
    (ARTIFACTS / "perf.json").write_text(json.dumps(report, indent=2))
    print(f"first render with 3 layers: median {median} ms of {times} (target < 2000 ms)")  # noqa: T201
    assert median < PERF_CEILING_MS


def first_render(page: Any) -> dict[str, Any]:
    """The page's first-render measure (window.__perf), its marks and its request waterfall."""
    perf: dict[str, Any] = page.evaluate("window.__perf")
    perf["resources"] = page.evaluate(WATERFALL)
    perf["html_ms"] = page.evaluate(
        "() => Math.round(performance.getEntriesByType('navigation')[0].responseEnd)"
    )
    return perf
