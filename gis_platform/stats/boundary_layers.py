"""Catalogue layers derived from boundary versions that have no source file of their own.

The 273 pre-reform wards (2025-01-01 .. 2025-06-30) exist only as derived, approximate polygons in
``admin.admin_unit`` (:mod:`gis_platform.stats.derive`), and neighbourhoods only as generated ones. So
that statistics can be drawn on the boundaries of either date, each of these versions is published as
an ordinary layer (``managed_by = 'api'``, so the manifest sync leaves it alone) through the ingest
pipeline: tiles, features, TileJSON, styles and downloads then serve it like any other layer, and
``?join=indicator`` works on it (:mod:`gis_platform.stats.joins`). A version is loaded again only when
its boundary version's checksum changed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import psycopg
import shapely
from psycopg.types.json import Jsonb

from gis_platform.catalogue.service import search_text_of
from gis_platform.stats import queries
from gis_platform.stats.joins import ADMIN_LAYERS, NEIGHBOURHOODS, PRE_REFORM_NEIGHBOURHOODS, PRE_REFORM_WARDS

logger = logging.getLogger(__name__)

AUTHOR = "stats-derivation"
_TILES = {
    "minzoom": 8, "maxzoom": 16, "buffer": 64,
    "attributes_by_zoom": {"8": ["code", "name"], "14": ["code", "name", "full_name", "unit_type", "parent_code"]},
    "simplify_by_zoom": {"8": 2.0, "13": 1.0, "15": 0.25},
}  # fmt: skip
_ATTRIBUTES = [
    {"name": "code", "type": "text", "title_vi": "Mã đơn vị", "title_en": "Unit code"},
    {"name": "name", "type": "text", "title_vi": "Tên", "title_en": "Name"},
    {"name": "full_name", "type": "text", "title_vi": "Tên đầy đủ", "title_en": "Full name"},
    {"name": "unit_type", "type": "text", "title_vi": "Loại đơn vị", "title_en": "Unit type"},
    {"name": "parent_code", "type": "text", "title_vi": "Mã đơn vị cấp trên", "title_en": "Parent unit code"},
    {"name": "area_km2", "type": "double", "title_vi": "Diện tích (km²)", "title_en": "Area (km²)"},
]


@dataclass(frozen=True)
class DerivedLayer:
    """Catalogue metadata of a layer published from one boundary version."""

    slug: str
    title_vi: str
    title_en: str
    description_vi: str
    description_en: str
    synthetic: bool
    color: str


DERIVED_LAYERS = {
    d.slug: d
    for d in (
        DerivedLayer(
            PRE_REFORM_WARDS,
            "Ranh giới phường, xã, thị trấn (01/01/2025 - 30/06/2025, gần đúng)",
            "Ward and commune boundaries (2025-01-01 to 2025-06-30, approximate)",
            "273 phường, xã, thị trấn trước sắp xếp 2025. Ranh giới gần đúng: suy ra từ ranh giới 168 phường, xã "
            "mới, 22 quận, huyện cũ và bảng chuyển đổi chính thức (chia theo dân số 2019).",
            "The 273 wards and communes before the 2025 reform. Approximate boundaries derived from the 168 new "
            "wards, the 22 old districts and the official old-to-new table (shared pieces split by 2019 census "
            "population); for statistics on the pre-reform boundaries.",
            False,
            "#1f78b4",
        ),
        DerivedLayer(
            NEIGHBOURHOODS,
            "Ranh giới khu phố, ấp (từ 01/07/2025, giả lập)",
            "Neighbourhood boundaries (from 2025-07-01, synthetic)",
            "Khu phố, ấp trong 168 phường, xã. Dữ liệu giả lập (synthetic), chỉ để trình diễn và kiểm thử.",
            "Neighbourhoods (khu phố, ấp) inside the 168 wards. Synthetic data: generated polygons for "
            "demonstration and testing only.",
            True,
            "#33a02c",
        ),
        DerivedLayer(
            PRE_REFORM_NEIGHBOURHOODS,
            "Ranh giới khu phố, ấp (01/01/2025 - 30/06/2025, giả lập)",
            "Neighbourhood boundaries (2025-01-01 to 2025-06-30, synthetic)",
            "Khu phố, ấp trong 273 phường, xã cũ. Dữ liệu giả lập (synthetic), chỉ để trình diễn và kiểm thử.",
            "Neighbourhoods (khu phố, ấp) inside the 273 pre-reform wards. Synthetic data: generated polygons for "
            "demonstration and testing only.",
            True,
            "#b2df8a",
        ),
    )
}


def unit_frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Units (``queries.select_units_of_version`` rows with a geometry) as a GeoDataFrame in EPSG:4326."""
    rows = [r for r in rows if r["wkb"] is not None]
    return gpd.GeoDataFrame(
        {
            "code": [r["code"] for r in rows],
            "name": [r["name_vi"] for r in rows],
            "full_name": [r["full_name_vi"] for r in rows],
            "unit_type": [r["unit_type"] for r in rows],
            "parent_code": [r["parent_code"] for r in rows],
            "area_km2": [float(r["area_km2"]) if r["area_km2"] is not None else None for r in rows],
        },
        geometry=shapely.from_wkb([bytes(r["wkb"]) for r in rows]),
        crs=4326,
    )


def _metadata(layer: DerivedLayer, version: str, category_titles: list[str]) -> dict[str, Any]:
    keywords = ["ranh giới hành chính", "boundaries", version]
    agency = "Sở Nội vụ"
    return {
        "slug": layer.slug, "title_vi": layer.title_vi, "title_en": layer.title_en,
        "description_vi": layer.description_vi, "description_en": layer.description_en,
        "agency": agency, "licence": "MIT",
        "attribution": "Derived by the Ward GIS Platform from thanglequoc/vietnamese-provinces-database (MIT) and "
        "daohoangson/dvhcvn (GPL-3.0)",
        "keywords": keywords, "synthetic": layer.synthetic,
        "style": Jsonb({"color": layer.color, "outline_color": "#333333", "opacity": 0.45, "label": "name"}),
        "tile_settings": Jsonb(_TILES), "attribute_schema": Jsonb(_ATTRIBUTES),
        "source": Jsonb({"boundary_version": version}),
        "search_text": search_text_of(layer.title_vi, layer.title_en, keywords, agency, category_titles),
    }  # fmt: skip


def publish_boundary_layers(
    conn: psycopg.Connection[Any],
    slugs: list[str] | None = None,
    *,
    author: str = AUTHOR,
    force: bool = False,
) -> dict[str, int | None]:
    """Publish (or refresh) the derived boundary layers; ``{slug: published version or None}``.

    ``conn`` must be in autocommit mode (the ingest pipeline's rule). A layer whose boundary version
    has no units yet is skipped (None); one whose checksum did not change keeps its version.
    """
    from gis_platform.ingest.service import import_frame  # the ingest pipeline is heavy to import

    out: dict[str, int | None] = {}
    titles = queries.ensure_administration_category(conn)
    for slug in slugs or list(DERIVED_LAYERS):
        layer, admin = DERIVED_LAYERS[slug], ADMIN_LAYERS[slug]
        version = admin.boundary_version
        rows = queries.select_units_of_version(conn, version)
        if not any(r["wkb"] is not None for r in rows):
            logger.info("%s: boundary version %s has no polygons; skipped", slug, version)
            out[slug] = None
            continue
        fingerprint = queries.select_fingerprints(conn, [version]).get(version) or ""
        checksum = hashlib.sha256(f"{version}:{fingerprint}:{len(rows)}".encode()).hexdigest()
        published = queries.upsert_derived_layer(conn, _metadata(layer, version, titles))
        if published is not None and published[1] == checksum and not force:
            out[slug] = published[0]
            continue
        info = import_frame(
            conn, slug, unit_frame(rows), author=author, publish=True, source_checksum=checksum
        )
        logger.info(
            "%s: published version %s (%s units of %s)", slug, info.version, info.feature_count, version
        )
        out[slug] = info.version
    return out
