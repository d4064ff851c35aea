"""HTML pages of the features API: small, self-contained (no scripts, fonts or CDN), every value escaped.

An items page lists the page's features in a table and draws them on an inline SVG map (Web
Mercator coordinates written by PostGIS ``ST_AsSVG``), streamed row by row like the JSON.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import orjson

_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2327}"
    "header{background:#0b4f6c;color:#fff;padding:.6rem 1.2rem}header a{color:#fff}"
    "main{padding:1rem 1.2rem;display:flex;flex-direction:column;gap:.8rem}h1{order:-2;margin:0}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccd;padding:.2rem .45rem;"
    "text-align:left;vertical-align:top}th{background:#eef3f6}"
    ".map{order:-1;max-width:720px;border:1px solid #ccd;background:#f7fafb}"
    ".map circle{fill:#d9480f;fill-opacity:.75}.map path{fill:#1c7ed6;fill-opacity:.25;stroke:#1c7ed6}"
    "nav.links a{margin-right:.8rem}pre{background:#f4f6f8;padding:.6rem;overflow:auto}"
)
_NUMBER = r"-?[0-9.]+(?:e-?[0-9]+)?"
_POINT = re.compile(rf'cx="({_NUMBER})" cy="({_NUMBER})"')
_PATH = re.compile(r"^[MLZ0-9.eE\- ]*$")


def esc(value: Any) -> str:
    """Escape any value for HTML text or attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def head(title: str, crumbs: Iterable[tuple[str, str | None]]) -> str:
    """The start of a page, up to the opening of ``<main>``."""
    trail = " / ".join(
        f'<a href="{esc(href)}">{esc(text)}</a>' if href else esc(text) for text, href in crumbs
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body><header>{trail}</header><main><h1>{esc(title)}</h1>"
    )


TAIL = "</main></body></html>"


def link_list(links: Iterable[dict[str, str]]) -> str:
    """Links as a navigation bar."""
    items = "".join(
        f'<a href="{esc(link["href"])}" rel="{esc(link["rel"])}">{esc(link.get("title") or link["rel"])}</a>'
        for link in links
    )
    return f'<nav class="links">{items}</nav>'


def definition_table(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of names and values."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"<pre>{esc(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())}</pre>"
    return esc(value)


def document(title: str, crumbs: list[tuple[str, str | None]], body: str) -> str:
    """A whole page."""
    return head(title, crumbs) + body + TAIL


class SvgMap:
    """Collects the SVG shapes of a page's features and their extent (EPSG:3857, y negated)."""

    def __init__(self) -> None:
        self.shapes: list[str] = []
        self.box: list[float] | None = None

    def add(self, fid: int, svg: str | None, extent: tuple[Any, Any, Any, Any]) -> None:
        """Add one feature (``svg`` from ``ST_AsSVG(geom, 0, 1)``, extent from ``ST_XMin`` …)."""
        if not svg or None in extent:
            return
        xmin, ymin, xmax, ymax = (float(v) for v in extent)
        if self.box is None:
            self.box = [xmin, ymin, xmax, ymax]
        else:
            self.box = [
                min(self.box[0], xmin),
                min(self.box[1], ymin),
                max(self.box[2], xmax),
                max(self.box[3], ymax),
            ]
        for part in svg.split(";"):
            points = _POINT.findall(part)
            if points:
                self.shapes.extend(f'<circle data-fid="{fid}" cx="{x}" cy="{y}"/>' for x, y in points)
            elif _PATH.match(part):
                self.shapes.append(f'<path data-fid="{fid}" d="{part}"/>')

    def render(self) -> str:
        """The ``<svg>`` element (empty when nothing has a geometry)."""
        if self.box is None:
            return ""
        xmin, ymin, xmax, ymax = self.box
        width, height = max(xmax - xmin, 1.0), max(ymax - ymin, 1.0)
        pad = max(width, height) * 0.04
        radius = max(width, height) / 160
        view = f"{xmin - pad:.2f} {-ymax - pad:.2f} {width + 2 * pad:.2f} {height + 2 * pad:.2f}"
        return (
            f'<svg class="map" role="img" aria-label="Map of the features on this page" viewBox="{view}" '
            f'preserveAspectRatio="xMidYMid meet"><g stroke-width="{radius / 3:.2f}">'
            + "".join(self.shapes).replace("<circle ", f'<circle r="{radius:.2f}" ')
            + "</g></svg>"
        )


async def items_page(
    rows: AsyncIterator[list[Any]],
    *,
    title: str,
    crumbs: list[tuple[str, str | None]],
    item_href: Callable[[int], str],
    columns: list[str],
    footer: Callable[[], Any],
) -> AsyncIterator[bytes]:
    """Stream an items page: the table row by row, then the map (shown first by CSS) and paging links."""
    header = "".join(f"<th>{esc(c)}</th>" for c in ["fid", *columns])
    yield (head(title, crumbs) + f"<table><thead><tr>{header}</tr></thead><tbody>").encode()
    svg = SvgMap()
    async for batch in rows:
        out = []
        for row in batch:
            fid, props = row[0], orjson.loads(row[1])
            svg.add(fid, row[2], (row[3], row[4], row[5], row[6]))
            cells = "".join(f"<td>{_cell(props.get(c))}</td>" for c in columns)
            out.append(f'<tr><td><a href="{esc(item_href(fid))}">{fid}</a></td>{cells}</tr>')
        yield "".join(out).encode()
    summary, links = await footer()
    yield (f"</tbody></table><p>{esc(summary)}</p>{link_list(links)}{svg.render()}{TAIL}").encode()


def feature_page(
    title: str, crumbs: list[tuple[str, str | None]], row: Any, links: list[dict[str, str]]
) -> str:
    """One feature: its properties and a map."""
    svg = SvgMap()
    svg.add(row[0], row[2], (row[3], row[4], row[5], row[6]))
    props = orjson.loads(row[1])
    body = definition_table([("fid", row[0]), *props.items()]) + link_list(links) + svg.render()
    return document(title, crumbs, body)


def _home(urls_to: Callable[[str], str]) -> list[tuple[str, str | None]]:
    return [("Home", urls_to("/")), ("Collections", urls_to("/collections"))]


def conformance_page(doc: dict[str, Any], urls_to: Callable[[str], str]) -> str:
    """The conformance classes."""
    items = "".join(f"<li>{esc(uri)}</li>" for uri in doc["conformsTo"])
    return document("Conformance", [("Home", urls_to("/")), ("Conformance", None)], f"<ul>{items}</ul>")


def collections_page(doc: dict[str, Any], urls_to: Callable[[str], str]) -> str:
    """The list of collections."""
    rows = "".join(
        f'<tr><td><a href="{esc(urls_to("/collections/" + c["id"]))}?f=html">{esc(c["id"])}</a></td>'
        f"<td>{esc(c['title'])}</td><td>{esc(c.get('title_vi'))}</td><td>{esc(c.get('featureCount'))}</td></tr>"
        for c in doc["collections"]
    )
    body = f"<table><tr><th>id</th><th>title</th><th>tiêu đề</th><th>features</th></tr>{rows}</table>"
    return document(
        "Collections", [("Home", urls_to("/")), ("Collections", None)], body + link_list(doc["links"])
    )


def collection_page(doc: dict[str, Any], urls_to: Callable[[str], str]) -> str:
    """One collection's metadata."""
    facts = [(k, doc[k]) for k in ("id", "title_vi", "description", "keywords", "license", "attribution",
                                   "geometryType", "featureCount", "layerVersion", "extent", "crs") if k in doc]  # fmt: skip
    crumbs = [*_home(urls_to), (doc["title"], None)]
    return document(doc["title"], crumbs, definition_table(facts) + link_list(doc["links"]))


def queryables_page(doc: dict[str, Any], urls_to: Callable[[str], str], slug: str) -> str:
    """The queryable properties."""
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(spec.get('title'))}</td>"
        f"<td>{esc(spec.get('type') or spec.get('format'))}{esc(' ' + spec['format']) if 'type' in spec and 'format' in spec else ''}</td></tr>"
        for name, spec in doc["properties"].items()
    )
    crumbs = [*_home(urls_to), (slug, urls_to(f"/collections/{slug}")), ("Queryables", None)]
    body = f"<table><tr><th>name</th><th>title</th><th>type</th></tr>{rows}</table>"
    return document(f"Queryables of {slug}", crumbs, body)
