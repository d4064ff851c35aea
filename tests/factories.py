"""Shared builders for tests."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import psycopg
import shapely


def ensure_layer(
    conn: psycopg.Connection[Any], slug: str, geometry_type: str = "Point", **fields: Any
) -> int:
    """Create (or reuse) a catalogue layer row directly; return its id."""
    conn.execute(
        "INSERT INTO catalogue.category (id, title_vi, title_en) VALUES ('test', 'Kiểm thử', 'Test') "
        "ON CONFLICT DO NOTHING"
    )
    values = {
        "slug": slug, "title_vi": fields.get("title_vi", f"Lớp {slug}"), "title_en": fields.get("title_en", slug),
        "category": "test", "agency": "Test", "licence": "MIT", "attribution": "test", "geometry_type": geometry_type,
        "synthetic": True, "visibility": fields.get("visibility", "public"),
    }  # fmt: skip
    row = conn.execute(
        "INSERT INTO catalogue.layer (slug, title_vi, title_en, category, agency, licence, attribution, "
        "geometry_type, synthetic, visibility, managed_by) VALUES (%(slug)s, %(title_vi)s, %(title_en)s, "
        "%(category)s, %(agency)s, %(licence)s, %(attribution)s, %(geometry_type)s, %(synthetic)s, %(visibility)s, "
        "'api') ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id",
        values,
    ).fetchone()
    if not conn.autocommit:
        conn.commit()
    assert row is not None
    return int(row[0])


def point_frame(
    n: int, seed: int = 1, bbox: tuple[float, float, float, float] = (106.6, 10.7, 106.8, 10.85)
) -> gpd.GeoDataFrame:
    """``n`` random points in central HCMC with a few typed attributes."""
    rng = np.random.default_rng(seed)
    xs = rng.uniform(bbox[0], bbox[2], n)
    ys = rng.uniform(bbox[1], bbox[3], n)
    return gpd.GeoDataFrame(
        {
            "name": [f"Điểm {i}" for i in range(n)],
            "kind": rng.choice(["a", "b", "c"], n),
            "value": rng.integers(0, 1000, n),
            "score": rng.random(n),
        },
        geometry=shapely.points(xs, ys),
        crs=4326,
    )
