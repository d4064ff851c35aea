"""Every style validates with the official MapLibre style-spec validator (run with node)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gis_platform.settings import REPO_ROOT, TileSettings
from gis_platform.tiles.models import TileLayer
from gis_platform.tiles.rules import parse_rules
from gis_platform.tiles.styles import absolute_sources, generated_style, layer_style, write_style

VALIDATOR = REPO_ROOT / "tiles" / "validate-styles.mjs"
SPEC = REPO_ROOT / "node_modules" / "@maplibre" / "maplibre-gl-style-spec"


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    assert SPEC.is_dir(), (
        "the style validator is missing: run `npm ci --no-audit --no-fund` (make install does)"
    )
    return subprocess.run(
        [node, str(VALIDATOR), *map(str, paths)], capture_output=True, text=True, timeout=60, check=False
    )


def layer(
    slug: str, geometry: str, style: dict[str, Any] | None = None, tiles: dict[str, Any] | None = None
) -> TileLayer:
    return TileLayer(
        id=1, slug=slug, title=f"Lớp {slug}", description="", attribution="Test", licence="MIT",
        geometry_type=geometry, visibility="public", current_version=1, style=style,
        rules=parse_rules(tiles or {}, TileSettings()),
    )  # fmt: skip


LAYERS = [
    layer("points", "Point"),
    layer(
        "clustered",
        "MultiPoint",
        {"color": "#112233", "radius": 3, "label": "name"},
        {"cluster_below_zoom": 12},
    ),
    layer("roads", "MultiLineString", {"color": "#aa0000", "width": 2.5, "label": "name", "opacity": 0.7}),
    layer("wards", "MultiPolygon", {"color": "#00aa00", "outline_color": "#333333", "opacity": 0.45}),
    layer("anything", "Geometry"),
]


def write(path: Path, style: dict[str, Any]) -> Path:
    path.write_text(json.dumps(style, ensure_ascii=False))
    return path


def test_generated_styles_validate(tmp_path: Path) -> None:
    files = []
    for item in LAYERS:
        for glyphs in (None, "https://example.org/fonts/{fontstack}/{range}.pbf"):
            style = generated_style(item, f"https://example.org/tiles/{item.slug}.json", glyphs_url=glyphs)
            assert style["version"] == 8 and style["layers"]
            assert all(lyr["source-layer"] == item.slug for lyr in style["layers"])
            files.append(write(tmp_path / f"{item.slug}-{bool(glyphs)}.json", style))
    result = validate(*files)
    assert result.returncode == 0, result.stderr
    assert f"{len(files)} valid, 0 invalid" in result.stdout


def test_style_kinds_follow_geometry() -> None:
    kinds = {item.slug: [lyr["type"] for lyr in generated_style(item, "u")["layers"]] for item in LAYERS}
    assert kinds["points"] == ["circle"]
    assert kinds["roads"] == ["line"]
    assert kinds["wards"] == ["fill", "line"]
    assert kinds["anything"] == ["fill", "line", "line", "circle"]
    clustered = generated_style(LAYERS[1], "u")["layers"][0]
    assert clustered["paint"]["circle-radius"][0] == "step"  # sized by the cluster's count
    labelled = generated_style(LAYERS[2], "u", glyphs_url="https://g/{fontstack}/{range}.pbf")
    assert labelled["layers"][-1]["layout"]["symbol-placement"] == "line"


def test_committed_style_files_validate() -> None:
    files = sorted((REPO_ROOT / "tiles" / "styles").glob("*.json"))
    if not files:
        pytest.skip("no style files in tiles/styles")
    result = validate(*files)
    assert result.returncode == 0, result.stderr


def test_style_file_overrides_and_urls_become_absolute(tmp_path: Path) -> None:
    path = write_style(LAYERS[3], tmp_path, glyphs_url=None, overwrite=False)
    assert path is not None and write_style(LAYERS[3], tmp_path, glyphs_url=None, overwrite=False) is None
    stored = json.loads(path.read_text())
    assert stored["sources"]["wards"]["url"] == "/tiles/wards.json"
    stored["layers"][0]["paint"]["fill-color"] = "#ffffff"
    path.write_text(json.dumps(stored))
    served = layer_style(LAYERS[3], "https://api.example.org", tmp_path, None)
    assert served["layers"][0]["paint"]["fill-color"] == "#ffffff"
    assert served["sources"]["wards"]["url"] == "https://api.example.org/tiles/wards.json"
    assert absolute_sources(
        {"sources": {"s": {"type": "vector", "tiles": ["/t/{z}/{x}/{y}.mvt"]}}}, "https://a"
    )["sources"]["s"]["tiles"] == ["https://a/t/{z}/{x}/{y}.mvt"]
    result = validate(path, write(tmp_path / "served.json", served))
    assert result.returncode == 0, result.stderr


def test_validator_rejects_a_broken_style(tmp_path: Path) -> None:
    broken = write(
        tmp_path / "broken.json", {"version": 8, "sources": {}, "layers": [{"id": "x", "type": "nope"}]}
    )
    result = validate(broken)
    assert result.returncode == 1 and "0 valid, 1 invalid" in result.stdout
