"""Accessibility basics of the map and upload pages: axe-core (WCAG 2.1 A/AA) and keyboard reachability.

axe-core comes from npm (a dev dependency in package.json, ``npm ci``); it is injected into the page,
so these contexts bypass the page's CSP (the pages themselves allow only their own scripts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gis_platform.settings import REPO_ROOT
from tests.web.conftest import ARTIFACTS

pytestmark = pytest.mark.db

AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
RUN_AXE = (
    "async () => { const r = await axe.run(document, {runOnly: {type: 'tag', values: "
    "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}); return {passes: r.passes.map((p) => p.id), "
    "violations: r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help, "
    "nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5)})), "
    "incomplete: r.incomplete.map((v) => ({id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 8)}))}; }"
)


@pytest.fixture
def a11y_page(browser: Any) -> Iterator[Any]:
    """A page whose CSP is bypassed so that axe-core can be injected."""
    if not AXE.is_file():
        pytest.skip("axe-core missing: npm ci")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def serious_violations(page: Any, name: str) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(RUN_AXE)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    # axe really checked the page: labels, contrast and names are among the rules that passed
    assert {"label", "color-contrast", "button-name"} <= set(result["passes"]), result["passes"]
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_map_page_has_no_serious_axe_violations(web: Any, a11y_page: Any, lang: str) -> None:
    server, _ = web
    a11y_page.goto(f"{server.url}/map#map=13.00/10.77500/106.69000&layers=truong-hoc&lang={lang}")
    a11y_page.wait_for_selector("body[data-ready=true]")
    a11y_page.check("#choro-on")  # the choropleth controls and legend too
    a11y_page.wait_for_selector("#choro-legend .legend-item[data-class]")
    a11y_page.click("#auth-signin summary")  # the sign-in form open
    assert serious_violations(a11y_page, f"map-{lang}") == []


def test_upload_page_has_no_serious_axe_violations(web: Any, a11y_page: Any) -> None:
    server, _ = web
    a11y_page.goto(f"{server.url}/map/upload")
    a11y_page.wait_for_selector("body[data-ready=true]")
    a11y_page.click("#new-layer summary")  # the new-layer form open
    assert serious_violations(a11y_page, "upload") == []


def test_map_controls_are_reachable_by_keyboard(web: Any, a11y_page: Any) -> None:
    server, _ = web
    a11y_page.goto(f"{server.url}/map#map=13.00/10.77500/106.69000&layers=truong-hoc")
    a11y_page.wait_for_selector("body[data-ready=true]")
    reached: list[str] = []
    for _ in range(60):
        a11y_page.keyboard.press("Tab")
        reached.append(
            a11y_page.evaluate(
                "() => { const e = document.activeElement; return e.id || e.getAttribute('aria-label') "
                "|| e.className || e.tagName; }"
            )
        )
    for control in ("cat-search", "cat-category", "layer-toggle-truong-hoc", "opacity-truong-hoc",
                    "choro-on", "lang-switch", "map"):  # fmt: skip
        assert control in reached, (control, reached)
    assert any("Phóng to" in r for r in reached), reached  # the map's zoom buttons, labelled
    # A visible focus indicator on the controls (outline or box-shadow when focused from the keyboard).
    a11y_page.focus("#cat-search")
    outline = a11y_page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement); "
        "return s.outlineStyle !== 'none' && s.outlineWidth !== '0px' || s.boxShadow !== 'none'; }"
    )
    assert outline
