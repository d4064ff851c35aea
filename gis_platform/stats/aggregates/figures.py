"""Figures of one unit over every layer (for profiles); no dependency on the indicator service."""

from __future__ import annotations

import asyncpg

from gis_platform.stats.aggregates import queries
from gis_platform.stats.aggregates.models import LayerFigure

#: Profiles list this many layers (most features first).
TOP_LAYERS = 10


def ratio(num: float | None, den: float | None, scale: float = 1.0) -> float | None:
    """Num / den x scale, None when undefined."""
    if num is None or den is None or den <= 0:
        return None
    return round(num / den * scale, 6)


async def top_layers(
    conn: asyncpg.Connection, key: tuple[str, str, str], area_km2: float | None, population: float | None,
    *, internal: bool = False, limit: int = TOP_LAYERS,
) -> list[LayerFigure]:  # fmt: skip
    """The layers with the most features in one unit (current versions only)."""
    out = []
    for r in await queries.fetch_top_of_unit(conn, key, internal, limit):
        count = int(r["feature_count"])
        out.append(LayerFigure(
            layer=r["slug"], title_vi=r["title_vi"], title_en=r["title_en"], geometry_type=r["geometry_type"],
            version=r["version"], count=count,
            length_km=round(float(r["length_m"]) / 1000, 6) if r["length_m"] is not None else None,
            area_covered_km2=round(float(r["area_m2"]) / 1e6, 6) if r["area_m2"] is not None else None,
            per_km2=ratio(count, area_km2), per_10k_residents=ratio(count, population, 10_000),
        ))  # fmt: skip
    return out
