"""Links of the features API (absolute URLs from the public base URL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
CSV = "text/csv"
SCHEMA = "application/schema+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
FORMAT_TYPES = {"json": GEOJSON, "html": HTML, "csv": CSV}


def link(href: str, rel: str, type_: str | None = None, title: str | None = None) -> dict[str, str]:
    """One link object."""
    out = {"href": href, "rel": rel}
    if type_:
        out["type"] = type_
    if title:
        out["title"] = title
    return out


class Urls:
    """Builds absolute URLs for one request: other resources, or this one with changed parameters."""

    def __init__(self, base: str, path: str, params: Sequence[tuple[str, str]]) -> None:
        self.base = base.rstrip("/")
        self.path = path
        self.params = list(params)

    def to(self, path: str, **params: Any) -> str:
        """The URL of ``path`` with ``params`` (``None`` values left out)."""
        query = urlencode([(k, str(v)) for k, v in params.items() if v is not None])
        return f"{self.base}{path}" + (f"?{query}" if query else "")

    def here(self, **changes: Any) -> str:
        """This request's URL with some parameters replaced (``None`` removes one); the rest are kept."""
        names = {k.replace("_", "-") for k in changes}
        kept = [(k, v) for k, v in self.params if k not in names]
        kept.extend((k.replace("_", "-"), str(v)) for k, v in changes.items() if v is not None)
        query = urlencode(kept)
        return f"{self.base}{self.path}" + (f"?{query}" if query else "")

    def alternates(self, current: str, formats: dict[str, str]) -> list[dict[str, str]]:
        """``self`` and ``alternate`` links of this resource in each format."""
        out = [link(self.here(), "self", formats[current], "This document")]
        out.extend(
            link(self.here(f=name), "alternate", type_, f"This document as {name.upper()}")
            for name, type_ in formats.items()
            if name != current
        )
        return out


def page_links(
    urls: Urls, slug: str, fmt: str, *, offset: int, limit: int, returned: int, has_more: bool
) -> list[dict[str, str]]:
    """Links of an items page: self, alternates, next/prev (keeping every other parameter), collection.

    Remembered per request URL and page position (1,024 of them): five URL encodings cost more than the
    rest of a page's closing members, and maps and clients ask for the same pages again and again. The
    link objects are shared between answers: callers serialise them, never change them.
    """
    key = (urls.base, urls.path, tuple(urls.params), slug, fmt, offset, limit, returned, has_more)
    found = _PAGE_LINKS.get(key)
    if found is None:
        found = _page_links(urls, slug, fmt, offset=offset, limit=limit, returned=returned, has_more=has_more)
        if len(_PAGE_LINKS) >= _PAGE_LINKS_SIZE:
            _PAGE_LINKS.pop(next(iter(_PAGE_LINKS)))
        _PAGE_LINKS[key] = found
    return list(found)


_PAGE_LINKS: dict[tuple[Any, ...], list[dict[str, str]]] = {}
_PAGE_LINKS_SIZE = 1024


def _page_links(
    urls: Urls, slug: str, fmt: str, *, offset: int, limit: int, returned: int, has_more: bool
) -> list[dict[str, str]]:
    out = urls.alternates(fmt, FORMAT_TYPES)
    type_ = FORMAT_TYPES[fmt]
    if has_more:
        out.append(link(urls.here(offset=offset + returned), "next", type_, "Next page"))
    if offset > 0:
        out.append(link(urls.here(offset=max(0, offset - limit) or None), "prev", type_, "Previous page"))
    out.append(link(urls.to(f"/collections/{slug}"), "collection", JSON, "The collection"))
    return out
