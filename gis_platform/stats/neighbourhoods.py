"""Synthetic neighbourhoods (khu phố/ấp) and residential groups (tổ dân phố) inside every ward.

No open boundaries exist below the ward, so each ward polygon is subdivided deterministically
(:func:`gis_platform.stats.subdivide.nested`) into neighbourhoods and each neighbourhood into
residential groups, labelled ``synthetic``. Counts are the real ones where known (Đa Kao ward:
8 khu phố and 96 tổ dân phố), otherwise scaled by population: about 5,000 residents per khu phố (a
typical figure) and 1,000 per tổ dân phố, which is coarser than real groups (a few hundred people;
Đa Kao's are about 260) on purpose, to keep the whole city's groups at about 20,000 polygons.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from shapely.geometry.base import BaseGeometry

from gis_platform.stats.subdivide import nested
from gis_platform.stats.synthetic import jitter

RESIDENTS_PER_NEIGHBOURHOOD = 5000.0
RESIDENTS_PER_GROUP = 1000.0
MIN_NEIGHBOURHOODS, MAX_NEIGHBOURHOODS = 3, 40
MIN_GROUPS, MAX_GROUPS = 3, 30

#: (ward code, boundary version) → (khu phố, tổ dân phố): counts published by the wards themselves.
KNOWN_COUNTS: dict[tuple[str, str], tuple[int, int]] = {
    ("26737", "hcmc-wards-2025-01-01"): (8, 96),  # Đa Kao ward, District 1 (city report)
}


@dataclass(frozen=True)
class Ward:
    """A ward to subdivide."""

    code: str
    boundary_version: str
    name_vi: str
    unit_type: str | None
    geom: BaseGeometry
    population: float


@dataclass(frozen=True)
class SyntheticUnit:
    """One generated neighbourhood or residential group."""

    code: str
    level: str
    unit_type: str
    name_vi: str
    full_name_vi: str
    name_en: str
    parent_code: str
    geom: BaseGeometry
    population: float


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def counts(ward: Ward) -> list[int]:
    """Residential groups per neighbourhood of ``ward`` (the list's length is its neighbourhoods)."""
    known = KNOWN_COUNTS.get((ward.code, ward.boundary_version))
    if known:
        n_kp, n_groups = known
    else:
        n_kp = _clamp(ward.population / RESIDENTS_PER_NEIGHBOURHOOD, MIN_NEIGHBOURHOODS, MAX_NEIGHBOURHOODS)
        n_groups = max(n_kp * MIN_GROUPS, round(ward.population / RESIDENTS_PER_GROUP))
    base, extra = divmod(n_groups, n_kp)
    return [min(MAX_GROUPS, base + (1 if i < extra else 0)) for i in range(n_kp)]


def _names(ward: Ward) -> tuple[str, str, str]:
    if ward.unit_type == "Xã":
        return "Ấp", "Hamlet", "Tổ nhân dân"
    return "Khu phố", "Neighbourhood", "Tổ dân phố"


def subdivide_ward(ward: Ward) -> Iterator[SyntheticUnit]:
    """Yield the ward's neighbourhoods, then their residential groups."""
    per_kp = counts(ward)
    kp_weights = [jitter(0.7, 1.3, "kp", ward.boundary_version, ward.code, i) for i in range(len(per_kp))]
    group_weights = [
        [jitter(0.6, 1.4, "to", ward.boundary_version, ward.code, i, j) for j in range(n)]
        for i, n in enumerate(per_kp)
    ]
    kp_geoms, group_geoms = nested(ward.geom, kp_weights, group_weights)
    kp_word, kp_en, group_word = _names(ward)
    kp_total = sum(kp_weights)
    for i, (geom, groups, weights) in enumerate(zip(kp_geoms, group_geoms, group_weights, strict=True)):
        kp_code = f"{ward.code}-KP{i + 1:02d}"
        kp_people = ward.population * kp_weights[i] / kp_total
        kp_name = f"{kp_word} {i + 1}"
        yield SyntheticUnit(
            kp_code, "neighbourhood", kp_word, kp_name, f"{kp_name}, {ward.name_vi}", f"{kp_en} {i + 1}",
            ward.code, geom, kp_people,
        )  # fmt: skip
        total = sum(weights)
        for j, (g, w) in enumerate(zip(groups, weights, strict=True)):
            name = f"{group_word} {j + 1}"
            yield SyntheticUnit(
                f"{kp_code}-T{j + 1:02d}", "residential_group", group_word, name,
                f"{name}, {kp_name}, {ward.name_vi}", f"Residential group {j + 1}", kp_code, g,
                kp_people * w / total,
            )  # fmt: skip
