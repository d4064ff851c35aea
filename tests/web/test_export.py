"""``gis-platform map export``: one self-contained HTML file that opens offline in the browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from gis_platform.cli.mapexport import app
from gis_platform.settings import get_settings
from tests.web.conftest import PageProbe, seed_layers

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def export_db(db_url: str) -> str:
    """The seeded layers plus a population indicator observed on the current wards (conftest)."""
    seed_layers(db_url)
    with psycopg.connect(db_url) as conn:
        if conn.execute("SELECT to_regclass('stats.observation')").fetchone() == (None,):
            pytest.skip("the statistics migration is not in the repo yet")
    return db_url


@pytest.fixture
def cli_env(export_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", export_db)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_export_writes_a_self_contained_map_that_opens_offline(
    cli_env: None, tmp_path: Path, page: PageProbe
) -> None:
    out = tmp_path / "map.html"
    result = CliRunner().invoke(
        app,
        [
            "export",
            "--layers",
            "truong-hoc,osm-cho",
            "--indicator",
            "population",
            "-k",
            "4",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "168 wards, 2 layers (80 features), population 2025" in result.output
    html = out.read_text(encoding="utf-8")
    assert not re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']https?://""", html), (
        "no CDN: Leaflet is inlined"
    )
    assert "© OpenStreetMap contributors" in html and "thanglequoc" in html
    page.page.goto(out.as_uri())
    page.page.wait_for_selector(".leaflet-interactive")
    assert page.page.locator("path.leaflet-interactive").count() >= 168
    assert page.page.locator(".gis-legend li").count() == 4 + 1  # k classes + no data
    assert "Trường học" in page.page.text_content(".leaflet-control-layers")
    page.screenshot("export-folium")
    assert page.errors == [], page.errors


def test_export_fails_clearly(cli_env: None, tmp_path: Path) -> None:
    out = tmp_path / "x.html"
    unknown = CliRunner().invoke(app, ["export", "--layers", "khong-co", "--out", str(out)])
    assert unknown.exit_code == 1 and "No published layer 'khong-co'" in unknown.output
    assert not out.exists()
    no_stats = CliRunner().invoke(app, ["export", "--indicator", "nothing", "--out", str(out)])
    assert no_stats.exit_code == 1 and "No indicator 'nothing'" in no_stats.output
    bad_date = CliRunner().invoke(app, ["export", "--at", "2025-13-01", "--out", str(out)])
    assert bad_date.exit_code == 2


def test_export_before_the_reform_uses_districts(cli_env: None, tmp_path: Path) -> None:
    out = tmp_path / "before.html"
    result = CliRunner().invoke(app, ["export", "--at", "2025-03-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "22 districts" in result.output
