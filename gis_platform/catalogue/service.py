"""Catalogue reads for the API: search, one layer with its versions, categories."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg
import orjson

from gis_platform.catalogue import queries
from gis_platform.catalogue.models import (
    CategoryList,
    CategorySummary,
    LayerDetail,
    LayerSummary,
    Link,
    VersionSummary,
)
from gis_platform.errors import NotFound
from gis_platform.text import fold, nfc

_SUMMARY_FIELDS = tuple(f for f in LayerSummary.model_fields if f != "links")


def search_text_of(
    title_vi: str, title_en: str, keywords: Iterable[str], agency: str, category_titles: Iterable[str]
) -> str:
    """The ``catalogue.layer.search_text`` of a layer: its folded titles, keywords, agency and category titles."""
    parts = [title_vi, title_en, *keywords, agency, *category_titles]
    return " ".join(fold(p).strip() for p in parts if p.strip())


def layer_links(base_url: str, slug: str) -> list[Link]:
    """Links from a layer to its metadata, tiles, features and download."""
    base = base_url.rstrip("/")
    return [
        Link(href=f"{base}/catalogue/layers/{slug}", rel="self", type="application/json", title="Metadata"),
        Link(href=f"{base}/tiles/{slug}.json", rel="tiles", type="application/json", title="TileJSON"),
        Link(
            href=f"{base}/collections/{slug}", rel="collection", type="application/json", title="Collection"
        ),
        Link(
            href=f"{base}/collections/{slug}/items",
            rel="items",
            type="application/geo+json",
            title="Features",
        ),
        Link(href=f"{base}/collections/{slug}/download", rel="enclosure", title="Download"),
    ]


def normalise_query(q: str | None) -> tuple[str | None, str | None]:
    """Fold a search string (no diacritics, lower case, single spaces), and keep its diacritics if any."""
    if q is None:
        return None, None
    accented = " ".join(nfc(q).lower().split())
    folded = fold(accented)
    return folded or None, accented if accented != folded else None


def _summary(row: asyncpg.Record, base_url: str) -> dict[str, Any]:
    data = {k: row[k] for k in _SUMMARY_FIELDS}
    data["keywords"] = list(row["keywords"] or [])
    data["bbox"] = list(row["bbox"]) if row["bbox"] is not None else None
    data["links"] = layer_links(base_url, row["slug"])
    return data


async def search_layers(
    conn: asyncpg.Connection,
    *,
    q: str | None,
    category: str | None,
    agency: str | None,
    geometry_type: str | None,
    synthetic: bool | None,
    limit: int,
    offset: int,
    base_url: str,
    internal: bool = False,
) -> tuple[list[LayerSummary], int]:
    """Visible layers (public; internal too when ``internal``) matching the filters, ranked by ``q``."""
    folded, accented = normalise_query(q)
    rows = await queries.search_layers(
        conn,
        q=folded,
        q_accented=accented,
        category=category,
        agency=nfc(agency).strip() if agency else None,
        geometry_type=geometry_type,
        synthetic=synthetic,
        limit=limit,
        offset=offset,
        internal=internal,
    )
    matched = int(rows[0]["number_matched"]) if rows else 0
    layers = [LayerSummary.model_validate(_summary(r, base_url)) for r in rows if r["slug"] is not None]
    return layers, matched


async def get_layer(
    conn: asyncpg.Connection, slug: str, base_url: str, internal: bool = False
) -> LayerDetail:
    """One visible layer with its versions; :class:`NotFound` naming ``slug`` otherwise (internal looks absent)."""
    row = await queries.select_layer(conn, slug, internal)
    if row is None:
        raise NotFound(f"No public layer with slug {slug!r} in the catalogue.", parameter="slug")
    versions = await queries.select_versions(conn, row["id"])
    return LayerDetail.model_validate(
        {
            **_summary(row, base_url),
            "attributes": orjson.loads(row["attribute_schema"]),
            "style": orjson.loads(row["style"]) if row["style"] else None,
            "tiles": orjson.loads(row["tile_settings"]),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "versions": [VersionSummary.model_validate(dict(v)) for v in versions],
        }
    )


async def list_categories(conn: asyncpg.Connection, internal: bool = False) -> CategoryList:
    """Every category with its number of visible layers."""
    rows = await queries.select_categories(conn, internal)
    return CategoryList(categories=[CategorySummary.model_validate(dict(r)) for r in rows])
