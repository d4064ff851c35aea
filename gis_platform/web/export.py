"""A self-contained folium map for reports: ward boundaries (optionally a choropleth) plus layers.

The data is embedded in the HTML. Leaflet's JS and CSS are inlined from the vendored copy
(``gis_platform.web.assets``) so the file opens offline; without that copy folium's CDN links are kept
(a warning says so). No tile basemap is used: the ward boundaries are the background.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import branca.colormap
import folium
import psycopg
from branca.element import Element

from gis_platform.errors import NotFound, PlatformError
from gis_platform.web import export_queries as queries
from gis_platform.web.assets import VENDOR_ROOT, AssetsMissing, vendored

logger = logging.getLogger(__name__)

LAYER_COLOURS = ["#d1495b", "#00798c", "#edae49", "#66a182", "#8d6a9f", "#2e4057"]
NO_DATA = "#d9d9d9"
CENTER = (10.78, 106.70)
MAX_FEATURES = 20_000
#: ColorBrewer YlOrRd (9 classes), the palette the web map's choropleths use too.
YLORRD = branca.colormap.LinearColormap(
    ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"]
)
LEVEL_NAMES = {"ward": "Phường/xã / Wards", "district": "Quận/huyện / Districts"}


class ExportError(PlatformError):
    """The export cannot be built as asked (no data for the indicator, no statistics tables …)."""

    type = "export-error"
    title = "Map export failed"
    status = 400


@dataclass
class Choropleth:
    """Values of one indicator per unit, and how they are classed."""

    code: str
    name_vi: str
    name_en: str
    unit: str
    synthetic: bool
    period: str
    values: dict[str, float]
    k: int = 5


@dataclass
class ExportData:
    """Everything the map shows."""

    boundaries: dict[str, Any]
    boundary_attribution: str
    level: str
    at: date
    layers: list[dict[str, Any]] = field(default_factory=list)
    choropleth: Choropleth | None = None


def collect(
    conn: psycopg.Connection[Any],
    slugs: list[str],
    indicator: str | None,
    *,
    at: date,
    period: str | None = None,
    k: int = 5,
    tolerance: float = 0.0003,
) -> ExportData:
    """Read the boundaries valid on ``at`` (wards, else districts), the layers and the indicator values."""
    level, found = "ward", queries.boundaries(conn, "ward", at, tolerance)
    if not found or not json.loads(found["geojson"])["features"]:
        level, found = "district", queries.boundaries(conn, "district", at, tolerance)
    if not found or found["geojson"] is None:
        raise ExportError(f"No boundaries with geometry are valid on {at.isoformat()}.")
    data = ExportData(
        boundaries=json.loads(found["geojson"]),
        boundary_attribution=f"{found['attribution']} ({found['licence']})",
        level=level,
        at=at,
    )
    for slug in slugs:
        meta = queries.layer(conn, slug)
        if meta is None or meta["current_version"] is None:
            raise NotFound(f"No published layer {slug!r}.", parameter="layers")
        data.layers.append({**meta, "geojson": json.loads(queries.features(conn, slug, MAX_FEATURES))})
    if indicator:
        if not queries.stats_available(conn):
            raise ExportError("The statistics tables do not exist yet; export without --indicator.")
        ind = queries.indicator(conn, indicator)
        if ind is None:
            raise NotFound(f"No indicator {indicator!r}.", parameter="indicator")
        rows = queries.indicator_values(conn, indicator, level, at, period)
        if not rows:
            raise ExportError(
                f"No observed values of {indicator!r} for the {level}s valid on {at.isoformat()}."
            )
        data.choropleth = Choropleth(
            code=indicator, name_vi=ind["name_vi"], name_en=ind["name_en"], unit=ind["unit"],
            synthetic=bool(ind["synthetic"]), period=str(rows[0]["period"]),
            values={str(r["unit_code"]): float(r["value"]) for r in rows}, k=k,
        )  # fmt: skip
    return data


def _inline_leaflet(m: folium.Map, vendor_root: Path) -> bool:
    """Replace folium's CDN scripts and styles by Leaflet inlined from the vendored copy."""
    try:
        leaflet = vendored("leaflet", ("leaflet.js", "leaflet.css"), vendor_root)
    except AssetsMissing:
        logger.warning("Leaflet is not vendored (make install): the export loads Leaflet from a CDN")
        return False
    folder = leaflet.path(vendor_root)

    def data_uri(match: re.Match[str]) -> str:
        image = folder / match.group(1)
        if not image.is_file():
            return match.group(0)
        return f"url(data:image/png;base64,{base64.b64encode(image.read_bytes()).decode()})"

    css = re.sub(
        r"url\((images/[\w.-]+\.png)\)", data_uri, (folder / "leaflet.css").read_text(encoding="utf-8")
    )
    js = (folder / "leaflet.js").read_text(encoding="utf-8").replace("</script", "<\\/script")
    # Folium's other defaults (jQuery, Bootstrap, Font Awesome) are only needed by widgets we do not use.
    m.default_js = []
    m.default_css = []
    header = m.get_root().header  # type: ignore[attr-defined]
    header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline")
    header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js_inline")
    return True


def _legend(choropleth: Choropleth, colormap: branca.colormap.StepColormap) -> str:
    rows = []
    for i in range(len(colormap.index) - 1):
        lo, hi = colormap.index[i], colormap.index[i + 1]
        colour = colormap.rgb_hex_str((lo + hi) / 2)
        rows.append(f'<li><span style="background:{colour}"></span>{lo:,.0f} \u2013 {hi:,.0f}</li>')
    rows.append(f'<li><span style="background:{NO_DATA}"></span>Không có số liệu / no data</li>')
    synthetic = " <b>(giả lập / synthetic)</b>" if choropleth.synthetic else ""
    title = html.escape(
        f"{choropleth.name_vi} / {choropleth.name_en} ({choropleth.unit}), {choropleth.period}"
    )
    return f'<div class="gis-legend"><h2>{title}{synthetic}</h2><ul>{"".join(rows)}</ul></div>'


PAGE_CSS = """<style>
.gis-title{position:fixed;top:10px;left:60px;z-index:1000;background:#fff;padding:6px 10px;border-radius:4px;
  font:600 15px system-ui,sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3)}
.gis-legend{position:fixed;bottom:40px;left:10px;z-index:1000;background:#fff;padding:8px;border-radius:4px;
  font:13px system-ui,sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3)}
.gis-legend h2{font-size:13px;margin:0 0 4px}.gis-legend ul{list-style:none;margin:0;padding:0}
.gis-legend span{display:inline-block;width:18px;height:12px;margin-right:6px;border:1px solid #999}
.gis-sources{position:fixed;bottom:0;right:0;z-index:1000;background:rgba(255,255,255,.9);padding:3px 8px;
  font:11px system-ui,sans-serif;max-width:60%}
</style>"""


def render(data: ExportData, *, title: str, vendor_root: Path = VENDOR_ROOT) -> tuple[str, bool]:
    """The HTML of the map, and whether Leaflet was inlined (False: it loads from a CDN)."""
    m = folium.Map(location=CENTER, zoom_start=11, tiles=None, control_scale=True)
    inlined = _inline_leaflet(m, vendor_root)
    sources = [data.boundary_attribution]
    colormap = None
    if data.choropleth:
        values = list(data.choropleth.values.values())
        k = max(2, min(data.choropleth.k, len(set(values))))
        colormap = YLORRD.to_step(data=values, n=k, method="quantiles")
    for feature in data.boundaries["features"]:
        value = data.choropleth.values.get(str(feature["id"])) if data.choropleth else None
        feature["properties"]["value"] = value
        feature["properties"]["fill"] = colormap(value) if colormap and value is not None else NO_DATA
    fields = ["code", "name_vi", "name_en"] + (["value"] if data.choropleth else [])
    folium.GeoJson(
        data.boundaries,
        name=f"{LEVEL_NAMES.get(data.level, data.level)} ({data.at.isoformat()})",
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"] if colormap else "#fbfaf6",
            "color": "#7d8590",
            "weight": 0.8,
            "fillOpacity": 0.75 if colormap else 0.9,
        },
        tooltip=folium.GeoJsonTooltip(fields=fields, localize=True),
    ).add_to(m)
    for i, layer in enumerate(data.layers):
        colour = LAYER_COLOURS[i % len(LAYER_COLOURS)]
        props = [p for p in (layer["geojson"]["features"] or [{}])[0].get("properties", {}) if p != "fid"][:8]
        folium.GeoJson(
            layer["geojson"],
            name=f"{layer['title_vi']} / {layer['title_en']}" + (" (giả lập / synthetic)" if layer["synthetic"] else ""),
            marker=folium.CircleMarker(radius=4, color="#ffffff", weight=1, fill=True, fill_color=colour,
                                       fill_opacity=0.9),
            style_function=lambda f, c=colour: {"color": c, "fillColor": c, "weight": 1.5, "fillOpacity": 0.5},
            popup=folium.GeoJsonPopup(fields=props) if props else None,
        ).add_to(m)  # fmt: skip
        sources.append(f"{layer['title_vi']}: {layer['attribution']} ({layer['licence']})")
        if re.search(r"openstreetmap|odbl", f"{layer['attribution']} {layer['licence']}", re.I):
            sources.insert(0, "© OpenStreetMap contributors")
    folium.LayerControl(collapsed=False).add_to(m)
    root = m.get_root()
    root.header.add_child(Element(f"<title>{html.escape(title)}</title>"), name="gis_page_title")  # type: ignore[attr-defined]
    root.header.add_child(Element(PAGE_CSS), name="gis_css")  # type: ignore[attr-defined]
    body = root.html  # type: ignore[attr-defined]
    body.add_child(Element(f'<div class="gis-title">{html.escape(title)}</div>'), name="gis_title")
    if data.choropleth and colormap:
        body.add_child(Element(_legend(data.choropleth, colormap)), name="gis_legend")
    lines = " · ".join(html.escape(s) for s in dict.fromkeys(sources))
    body.add_child(Element(f'<div class="gis-sources">{lines}</div>'), name="gis_sources")
    corners = m.get_bounds()
    if all(v is not None for corner in corners for v in corner):
        m.fit_bounds([[float(v or 0) for v in corner] for corner in corners])
    return root.render(), inlined
