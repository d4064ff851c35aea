"""Staff on the map: sign in with an access token to list and draw internal layers; sign out hides them.

The internal layer answers 404 to anonymous callers everywhere (catalogue, styles, TileJSON, tiles),
so drawing it proves that the map's own requests and MapLibre's tile requests carry the token.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from gis_platform.auth.tokens import create_token, revoke_token
from gis_platform.ingest.service import import_frame
from gis_platform.text import fold
from tests.factories import ensure_layer, point_frame
from tests.web.conftest import PageProbe
from tests.web.test_map_page import open_map

pytestmark = pytest.mark.db

SLUG = "ho-so-noi-bo"
TITLE_VI, TITLE_EN = "Hồ sơ nội bộ", "Internal records"
VIEW = "#map=13.00/10.77500/106.69000"
TOKEN_KEY = "gis.editorToken"
# Page functions are arrow functions: the page's CSP forbids eval of plain expressions.
DRAWN = (
    "(slug) => { const g = window.__gis; const e = g.manager.get(slug);"
    " return Boolean(e) && g.map.queryRenderedFeatures({layers: e.layerIds}).length > 0; }"
)
SLUGS = "() => window.__gis.manager.slugs()"


@pytest.fixture(scope="module")
def staff(web: Any, db_url: str) -> dict[str, str]:
    """An internal layer with points in the default view, a viewer token and a revoked one."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        ensure_layer(conn, SLUG, "Point", visibility="internal", title_vi=TITLE_VI, title_en=TITLE_EN)
        conn.execute(
            "UPDATE catalogue.layer SET search_text = %s WHERE slug = %s",
            (f"{fold(TITLE_VI)} {fold(TITLE_EN)}", SLUG),
        )
        import_frame(
            conn,
            SLUG,
            point_frame(60, seed=7, bbox=(106.67, 10.76, 106.71, 10.79)),
            author="test",
            publish=True,
        )
        viewer, _ = create_token(conn, name="map-viewer", role="viewer")
        revoked, info = create_token(conn, name="map-revoked", role="viewer")
        revoke_token(conn, str(info.id))
    return {"viewer": viewer, "revoked": revoked}


def listed(probe: PageProbe) -> list[str]:
    """The slugs in the catalogue panel, once its first search has answered."""
    probe.page.wait_for_selector("#cat-results li")
    return list(
        probe.page.eval_on_selector_all("#cat-results input", "(els) => els.map((e) => e.dataset.slug)")
    )


def sign_in(probe: PageProbe, token: str) -> None:
    """Open the sign-in form and submit the token, by keyboard."""
    probe.page.focus("#auth-signin summary")
    probe.page.keyboard.press("Enter")
    probe.page.fill("#auth-token", token)
    probe.page.keyboard.press("Enter")


def real_errors(probe: PageProbe) -> list[str]:
    """Console errors other than the browser's own line for a 401/404 answer (expected here)."""
    return [e for e in probe.errors if not e.startswith("Failed to load resource")]


def test_signing_in_shows_internal_layers_and_signing_out_hides_them(
    web: Any, staff: dict[str, str], page: PageProbe
) -> None:
    server, wiring = web
    wiring.need("catalogue", "tiles")
    token = staff["viewer"]
    open_map(page, server, VIEW)
    assert SLUG not in listed(page) and len(listed(page)) >= 4
    assert page.page.get_attribute("body", "data-signed-in") == "false"

    sign_in(page, token)
    toggle = page.page.locator(f"#layer-toggle-{SLUG}")
    toggle.wait_for()
    label = page.page.locator(f"label[for=layer-toggle-{SLUG}]")
    assert TITLE_VI in label.text_content()
    assert label.locator("[data-badge=internal]").text_content() == "nội bộ"
    assert "Đã đăng nhập" in page.page.text_content("#auth-status")
    assert page.page.is_visible("#auth-signout") and not page.page.is_visible("#auth-signin summary")
    # Focus moved from the (now hidden) form to the sign-out button.
    assert page.page.evaluate("() => document.activeElement.id") == "auth-signout"
    # The public layers are still listed (each once).
    assert sorted(set(listed(page))) == sorted(listed(page)) and len(listed(page)) >= 5

    # Keyboard: focus the checkbox and press space; the internal layer's tiles draw.
    page.page.focus(f"#layer-toggle-{SLUG}")
    page.page.keyboard.press("Space")
    page.page.wait_for_function(DRAWN, arg=SLUG)
    active = page.page.locator(f"#active-list li[data-slug={SLUG}]")
    assert "nội bộ" in active.text_content()
    assert f"layers={SLUG}" in page.page.url
    page.screenshot("map-internal-signed-in")
    # The token lives in sessionStorage only: never in the URL (the shared view).
    assert token not in page.page.url
    assert page.page.evaluate("(key) => sessionStorage.getItem(key)", TOKEN_KEY) == token
    assert page.page.text_content("#map-status") == ""

    # English labels of the control and the badge.
    page.page.click("#lang-switch")
    assert page.page.text_content("#auth-signout") == "Sign out"
    assert label.locator("[data-badge=internal]").text_content() == "internal"
    assert "Signed in" in page.page.text_content("#auth-status")
    page.page.click("#lang-switch")

    page.page.click("#auth-signout")
    page.page.wait_for_selector(f"#layer-toggle-{SLUG}", state="detached")
    assert page.page.evaluate(SLUGS) == []
    assert page.page.locator(f"#active-list li[data-slug={SLUG}]").count() == 0
    assert SLUG not in page.page.url and token not in page.page.url
    assert page.page.evaluate("(key) => sessionStorage.getItem(key)", TOKEN_KEY) is None
    assert "Đã đăng xuất" in page.page.text_content("#auth-status")
    assert page.page.evaluate("() => document.activeElement.tagName") == "SUMMARY"
    assert SLUG not in listed(page) and len(listed(page)) >= 4
    assert page.page.evaluate("(slug) => window.__gis.map.getStyle().layers.filter((l) => l.id.includes(slug))"
                              ".length", SLUG) == 0  # fmt: skip
    assert real_errors(page) == [], page.errors


def test_one_sign_in_serves_the_shared_view_and_the_upload_page(
    web: Any, staff: dict[str, str], page: PageProbe
) -> None:
    server, wiring = web
    wiring.need("catalogue", "tiles")
    token = staff["viewer"]
    # Anonymous, a shared URL naming the internal layer shows the rest of the view without it.
    open_map(page, server, f"{VIEW}&layers={SLUG},truong-hoc")
    assert page.page.evaluate(SLUGS) == ["truong-hoc"]
    # Signing in shows the layer the shared view asked for.
    sign_in(page, token)
    page.page.wait_for_function(DRAWN, arg=SLUG)
    assert set(page.page.evaluate(SLUGS)) == {SLUG, "truong-hoc"}
    assert token not in page.page.url
    # The same tab, reloaded: the first render already asks as the signed-in caller.
    page.page.goto(f"{server.url}/map{VIEW}&layers={SLUG}")
    page.page.wait_for_selector("body[data-ready=true]")
    assert page.page.evaluate(SLUGS) == [SLUG]
    page.page.wait_for_function(DRAWN, arg=SLUG)
    assert page.page.get_attribute("body", "data-signed-in") == "true"
    assert page.page.get_attribute("#auth-state", "hidden") is None
    # The upload page of the same tab finds the token.
    page.page.goto(f"{server.url}/map/upload")
    assert page.page.input_value("#token") == token
    assert token not in page.page.url
    assert real_errors(page) == [], page.errors


def test_a_revoked_token_is_refused_clearly_and_the_map_stays_public(
    web: Any, staff: dict[str, str], page: PageProbe
) -> None:
    server, wiring = web
    wiring.need("catalogue")
    open_map(page, server, VIEW)
    before = listed(page)
    sign_in(page, staff["revoked"])
    page.page.wait_for_function(
        "() => document.getElementById('auth-status').textContent.includes('thu hồi')"
    )
    assert page.page.get_attribute("#auth-status", "class") == "status auth-status error"
    assert page.page.get_attribute("body", "data-signed-in") == "false"
    assert page.page.is_visible("#auth-signin summary") and not page.page.is_visible("#auth-signout")
    assert page.page.evaluate("(key) => sessionStorage.getItem(key)", TOKEN_KEY) is None
    page.page.wait_for_function(
        "(n) => document.querySelectorAll('#cat-results li').length === n", arg=len(before)
    )
    assert listed(page) == before and SLUG not in before
    assert "lỗi" not in (page.page.text_content("#cat-status") or "").lower()
    # An empty token is not sent at all: the form says what is missing; Escape closes the form.
    sign_in(page, "   ")
    assert page.page.text_content("#auth-status") == "Hãy nhập mã truy cập."
    assert page.page.evaluate("() => document.activeElement.id") == "auth-token"
    page.page.keyboard.press("Escape")
    assert not page.page.is_visible("#auth-token")
    assert page.page.evaluate("() => document.activeElement.tagName") == "SUMMARY"
    assert real_errors(page) == [], page.errors
