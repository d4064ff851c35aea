"""The upload page in a real browser: a good file publishes, a bad one shows its error, roll back works."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gis_platform.ingest.service import import_frame
from tests.factories import point_frame
from tests.web import stubs
from tests.web.conftest import PageProbe

pytestmark = pytest.mark.db


#: Features the upload page's preview map draws (its data layers, not the dashed extent).
PREVIEW_DRAWN = (
    "() => { const m = window.__upload.preview; const ids = m.getStyle().layers.map((l) => l.id)"
    ".filter((id) => id.startsWith('pv:') && id !== 'pv:bbox'); return m.queryRenderedFeatures({layers: ids}).length; }"
)


def current_version(db_url: str, slug: str) -> int | None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT current_version FROM catalogue.layer WHERE slug = %s", (slug,)).fetchone()
    return None if row is None else row[0]


def geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def point(lon: float, lat: float, name: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"name": name},
    }


def editor_token(db_url: str, ingest: str) -> str:
    """The stub's fixed token, or a real editor token minted in the database."""
    if ingest == "stub":
        return stubs.EDITOR_TOKEN
    tokens = pytest.importorskip("gis_platform.auth.tokens")
    with psycopg.connect(db_url, autocommit=True) as conn:
        token, _ = tokens.create_token(conn, name="web-test", role="editor")
    return str(token)


@pytest.fixture
def upload_page(web: Any, db_url: str, page: PageProbe) -> PageProbe:
    server, wiring = web
    wiring.need("catalogue", "ingest")
    page.page.goto(f"{server.url}/map/upload")
    page.page.wait_for_selector("body[data-ready=true]")
    page.page.fill("#token", editor_token(db_url, wiring.apis["ingest"]))
    return page


def test_good_upload_is_previewed_then_published(
    web: Any, db_url: str, upload_page: PageProbe, tmp_path: Path
) -> None:
    page = upload_page.page
    before = current_version(db_url, "diem-kiem-tra")
    page.select_option("#layer", "diem-kiem-tra")
    page.wait_for_selector("#versions tr[data-version]")
    good = geojson(
        tmp_path / "good.geojson", [point(106.70 + i / 500, 10.78, f"Điểm {i}") for i in range(12)]
    )
    page.set_input_files("#file", str(good))
    assert "good.geojson" in page.text_content("#dropzone")
    page.click("#upload")
    page.wait_for_selector("#publish:not([hidden])")
    assert "Không phát hiện vấn đề" in page.text_content("#report")
    assert current_version(db_url, "diem-kiem-tra") == before, "must not publish before the button"
    # The unpublished version is drawn from the editors-only preview, not only its extent.
    page.wait_for_selector("#preview[data-state=draft][data-rendered]")
    assert page.evaluate(PREVIEW_DRAWN) == 12
    assert "12" in page.text_content("#preview-status")
    upload_page.screenshot("upload-validated")
    page.click("#publish")
    page.wait_for_function(
        "() => document.getElementById('publish-status').textContent.includes('Đã xuất bản')"
    )
    assert current_version(db_url, "diem-kiem-tra") == (before or 0) + 1
    assert upload_page.errors == []
    # Roll back to the version before, from the versions list.
    page.locator("#versions button", has_text=f"Quay về phiên bản {before}").click()
    page.wait_for_function(
        "() => document.getElementById('versions-status').textContent.includes('Đã quay về')"
    )
    assert current_version(db_url, "diem-kiem-tra") == before
    upload_page.screenshot("upload-published")


def test_bad_upload_shows_its_error_and_does_not_publish(
    web: Any, db_url: str, upload_page: PageProbe, tmp_path: Path
) -> None:
    page = upload_page.page
    before = current_version(db_url, "diem-kiem-tra")
    page.select_option("#layer", "diem-kiem-tra")
    bowtie = {"type": "Feature", "properties": {"name": "xấu"},
              "geometry": {"type": "Polygon", "coordinates": [[[106.7, 10.7], [106.8, 10.8], [106.8, 10.7],
                                                               [106.7, 10.8], [106.7, 10.7]]]}}  # fmt: skip
    bad = geojson(tmp_path / "bad.geojson", [point(106.7, 10.78, "tốt"), bowtie])
    page.set_input_files("#file", str(bad))
    page.click("#upload")
    page.wait_for_selector("#report .problem-title")
    # The problem names the file and the feature (1: the second one, counted from 0 by the stub).
    title = page.text_content("#report .problem-title")
    assert "bad.geojson" in title and "feature" in title
    assert page.is_hidden("#publish")
    # Rejected at once (a problem answer) or by the job ("Không nhập được tệp"): shown as an error either way.
    assert "error" in (page.get_attribute("#upload-status", "class") or "")
    assert current_version(db_url, "diem-kiem-tra") == before
    upload_page.screenshot("upload-rejected")


def test_a_new_layer_can_be_created(web: Any, db_url: str, upload_page: PageProbe) -> None:
    page = upload_page.page
    page.click("#new-layer summary")
    page.fill("#nl-slug", "nha-van-hoa")
    page.fill("#nl-title-vi", "Nhà văn hoá")
    page.fill("#nl-title-en", "Cultural houses")
    page.select_option("#nl-category", "test")
    page.fill("#nl-agency", "Phòng Văn hoá")
    page.fill("#nl-attribution", "Phòng Văn hoá (giả lập)")
    page.check("#nl-synthetic")
    page.click("#new-layer-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('layer').value === 'nha-van-hoa'")
    assert current_version(db_url, "nha-van-hoa") is None
    assert upload_page.errors == []


def test_preview_api_is_for_editors_only_and_bounded(web: Any, db_url: str) -> None:
    server, wiring = web
    wiring.need("ingest")
    if wiring.apis["ingest"] == "stub":
        pytest.skip("the preview API is the real ingest router's")
    with psycopg.connect(db_url, autocommit=True) as conn:
        frame = point_frame(30, seed=7, bbox=(106.66, 10.75, 106.72, 10.80))
        info = import_frame(conn, "diem-kiem-tra", frame, author="test", publish=False)
    assert info.status == "validated"
    url = f"{server.url}/catalogue/layers/diem-kiem-tra/versions/{info.version}/preview.geojson"
    editor = {"Authorization": f"Bearer {editor_token(db_url, 'real')}"}
    with httpx.Client(timeout=30) as http:
        assert http.get(url).status_code == 401  # anonymous: never
        tokens = pytest.importorskip("gis_platform.auth.tokens")
        with psycopg.connect(db_url, autocommit=True) as conn:
            viewer, _ = tokens.create_token(conn, name="web-test-viewer", role="viewer")
        assert http.get(url, headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
        response = http.get(url, params={"limit": 10}, headers=editor)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/geo+json"
        assert "no-store" in response.headers["cache-control"]
        data = response.json()
        assert data["numberMatched"] == 30 and data["numberReturned"] == 10 and len(data["features"]) == 10
        assert data["features"][0]["geometry"]["type"] == "Point"
        first = data["features"][0]
        assert set(first["properties"]) == {"name", "kind", "value", "score"}
        assert first["properties"]["name"] == "Điểm 0"
        assert http.get(url, params={"limit": 100_000}, headers=editor).status_code == 422
        missing = url.replace(f"/versions/{info.version}/", "/versions/999/")
        assert http.get(missing, headers=editor).status_code == 404
