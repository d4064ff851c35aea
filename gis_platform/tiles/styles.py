"""MapLibre styles per layer: a hand-written ``tiles/styles/<slug>.json``, else one made from the layer.

A generated style follows the layer's style hints (colour, outline, opacity, width, radius, label) and
its geometry type: circles for points (sized by ``count`` where tiles are thinned or clustered), lines
for lines, a fill with an outline for polygons. Style files hold source URLs relative to the API
(``/tiles/<slug>.json``); they are made absolute when served.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import orjson

from gis_platform.settings import TileSettings
from gis_platform.tiles.models import TileLayer
from gis_platform.tiles.rules import parse_rules

logger = logging.getLogger(__name__)

#: Colours for layers without a colour hint, picked by the slug's hash.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
DEFAULT_FONT = ["Noto Sans Regular"]


def _color(layer: TileLayer, key: str = "color") -> str:
    hint = (layer.style or {}).get(key)
    if isinstance(hint, str) and hint.startswith("#"):
        return hint
    return PALETTE[hashlib.sha256(layer.slug.encode()).digest()[0] % len(PALETTE)]


def _number(layer: TileLayer, key: str, default: float) -> float:
    value = (layer.style or {}).get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _family(geometry_type: str) -> str:
    for family in ("Point", "LineString", "Polygon"):
        if geometry_type.endswith(family):
            return family
    return "Geometry"


def _points(layer: TileLayer, source: dict[str, str]) -> list[dict[str, Any]]:
    radius = _number(layer, "radius", 4.0)
    opacity = _number(layer, "opacity", 0.85)
    sized: Any = radius
    if layer.rules.cluster_below is not None or layer.rules.thin_below is not None:
        # thinned or clustered zooms carry how many points each one stands for
        sized = ["step", ["coalesce", ["get", "count"], 1], radius, 10, radius * 1.5, 100, radius * 2,
                 1000, radius * 3]  # fmt: skip
    paint = {
        "circle-color": _color(layer),
        "circle-radius": sized,
        "circle-opacity": opacity,
        "circle-stroke-color": _color(layer, "outline_color")
        if (layer.style or {}).get("outline_color")
        else "#ffffff",
        "circle-stroke-width": 1,
    }
    return [{"id": f"{layer.slug}-circle", "type": "circle", **source, "paint": paint}]


def _lines(layer: TileLayer, source: dict[str, str]) -> list[dict[str, Any]]:
    paint = {
        "line-color": _color(layer),
        "line-width": _number(layer, "width", 1.5),
        "line-opacity": _number(layer, "opacity", 0.9),
    }
    layout = {"line-join": "round", "line-cap": "round"}
    return [{"id": f"{layer.slug}-line", "type": "line", **source, "layout": layout, "paint": paint}]


def _polygons(layer: TileLayer, source: dict[str, str]) -> list[dict[str, Any]]:
    outline = _color(layer, "outline_color") if (layer.style or {}).get("outline_color") else _color(layer)
    return [
        {"id": f"{layer.slug}-fill", "type": "fill", **source,
         "paint": {"fill-color": _color(layer), "fill-opacity": _number(layer, "opacity", 0.5)}},
        {"id": f"{layer.slug}-outline", "type": "line", **source,
         "paint": {"line-color": outline, "line-width": _number(layer, "width", 1.0), "line-opacity": 0.9}},
    ]  # fmt: skip


def _label(layer: TileLayer, source: dict[str, str], family: str) -> dict[str, Any] | None:
    label = (layer.style or {}).get("label")
    if not isinstance(label, str) or not label:
        return None
    layout: dict[str, Any] = {"text-field": ["coalesce", ["get", label], ""], "text-font": DEFAULT_FONT,
                              "text-size": 12}  # fmt: skip
    if family == "LineString":
        layout["symbol-placement"] = "line"
    elif family == "Point":
        layout |= {"text-offset": [0, 1.2], "text-anchor": "top", "text-optional": True}
    paint = {"text-color": "#222222", "text-halo-color": "#ffffff", "text-halo-width": 1.2}
    return {"id": f"{layer.slug}-label", "type": "symbol", **source, "minzoom": max(layer.rules.minzoom, 13),
            "layout": layout, "paint": paint}  # fmt: skip


def generated_style(layer: TileLayer, tilejson_url: str, *, glyphs_url: str | None = None) -> dict[str, Any]:
    """A complete MapLibre style (version 8) for one layer."""
    source = {"source": layer.slug, "source-layer": layer.slug}
    family = _family(layer.geometry_type)
    if family == "Point":
        layers = _points(layer, source)
    elif family == "LineString":
        layers = _lines(layer, source)
    elif family == "Polygon":
        layers = _polygons(layer, source)
    else:  # a layer of any geometry: one style layer per family, filtered on the geometry type
        layers = []
        for kind, make in (("Polygon", _polygons), ("LineString", _lines), ("Point", _points)):
            for item in make(layer, source):
                layers.append({**item, "filter": ["==", ["geometry-type"], kind]})
    style: dict[str, Any] = {
        "version": 8,
        "name": layer.title,
        "metadata": {"gis_platform:layer": layer.slug},
        "sources": {layer.slug: {"type": "vector", "url": tilejson_url, "attribution": layer.attribution}},
        "layers": layers,
    }
    label = _label(layer, source, family) if glyphs_url else None
    if label is not None:
        style["glyphs"] = glyphs_url
        style["layers"].append(label)
    return style


def style_file(styles_dir: Path, slug: str) -> Path:
    """Where a hand-written style of ``slug`` lives."""
    return styles_dir / f"{slug}.json"


def load_style(styles_dir: Path, slug: str) -> dict[str, Any] | None:
    """The style file of ``slug`` when there is a readable one."""
    path = style_file(styles_dir, slug)
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        logger.warning("style file %s is unusable (%s); generating one", path, exc)
        return None
    return data if isinstance(data, dict) else None


def absolute_sources(style: dict[str, Any], base: str) -> dict[str, Any]:
    """A copy of ``style`` whose relative source URLs (``/tiles/…``) point under ``base``."""
    sources = {}
    for name, source in (style.get("sources") or {}).items():
        if isinstance(source, dict):
            source = dict(source)
            url = source.get("url")
            if isinstance(url, str) and url.startswith("/"):
                source["url"] = base + url
            if isinstance(source.get("tiles"), list):
                source["tiles"] = [
                    base + t if isinstance(t, str) and t.startswith("/") else t for t in source["tiles"]
                ]
        sources[name] = source
    return {**style, "sources": sources}


def layer_style(layer: TileLayer, base: str, styles_dir: Path, glyphs_url: str | None) -> dict[str, Any]:
    """The style served at ``/styles/<slug>.json``: the file when there is one, else a generated one."""
    stored = load_style(styles_dir, layer.slug)
    if stored is None:
        stored = generated_style(layer, f"/tiles/{layer.slug}.json", glyphs_url=glyphs_url)
    return absolute_sources(stored, base)


def layer_from_manifest(data: dict[str, Any], defaults: TileSettings) -> TileLayer:
    """The parts of a layer manifest (``layers/<category>/<slug>.yaml``) a style needs."""
    return TileLayer(
        id=0,
        slug=str(data["slug"]),
        title=str(data.get("title_en") or data.get("title_vi") or data["slug"]),
        description=str(data.get("description_en") or ""),
        attribution=str(data.get("attribution") or ""),
        licence=str(data.get("licence") or ""),
        geometry_type=str(data.get("geometry_type") or "Geometry"),
        visibility=str(data.get("visibility") or "public"),
        current_version=None,
        style=data.get("style") if isinstance(data.get("style"), dict) else None,
        rules=parse_rules(data.get("tiles") if isinstance(data.get("tiles"), dict) else None, defaults),
    )


def write_style(
    layer: TileLayer, styles_dir: Path, *, glyphs_url: str | None, overwrite: bool
) -> Path | None:
    """Write the generated style of ``layer`` (relative URLs) unless a file exists; the path written."""
    path = style_file(styles_dir, layer.slug)
    if path.exists() and not overwrite:
        return None
    styles_dir.mkdir(parents=True, exist_ok=True)
    style = generated_style(layer, f"/tiles/{layer.slug}.json", glyphs_url=glyphs_url)
    path.write_bytes(orjson.dumps(style, option=orjson.OPT_INDENT_2) + b"\n")
    return path
