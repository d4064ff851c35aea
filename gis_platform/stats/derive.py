"""Approximate polygons for the 273 pre-reform wards (2025-01-01 .. 2025-06-30).

No open polygons exist for them. What is known: the 168 new wards' polygons (official), the 22 old
districts' polygons (official) and the official old → new table. Each new ward is cut by the old
districts into pieces; a piece holding one old ward is that ward's part of the new ward, exactly;
a piece shared by several old wards is split among them by recursive weighted bisection
(:mod:`gis_platform.stats.subdivide`) with weights proportional to their 2019 census population
(equal when unknown). Slivers of a new ward outside every district that feeds it (the two sources
disagree along shared borders and coasts) join the nearest piece, so the old wards tile their new
wards with no gaps. Everything is ordered by code, hence deterministic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import shapely
from shapely.geometry.base import BaseGeometry

from gis_platform.stats.subdivide import polygonal, split

#: km² per square degree near HCMC's latitude (for reports only; shares use ratios of areas).
KM2_PER_DEG2 = 12_173.0

WHOLE_RELATIONS = ("whole", "unchanged")


@dataclass(frozen=True)
class Pair:
    """One row of the official old → new table."""

    old_code: str
    new_code: str
    relation: str
    note: str = ""

    @property
    def is_whole(self) -> bool:
        """Whether the whole old ward went into the new one."""
        return self.relation in WHOLE_RELATIONS


@dataclass
class ApproximateWards:
    """Derived polygons of the old wards and the area of each old ward inside each new ward."""

    geoms: dict[str, BaseGeometry] = field(default_factory=dict)
    piece_area: dict[tuple[str, str], float] = field(default_factory=dict)  # (old, new) -> deg²
    shared_pieces: int = 0
    single_pieces: int = 0
    missing: list[str] = field(default_factory=list)


def relation_of(relation: str, note: str) -> str:
    """Read the raw table's relation: the 'other' notes that say "một phần" (a part) are partial."""
    if relation == "other":
        return "partial" if "một phần" in note else "whole"
    return relation


def _pieces(
    ward: BaseGeometry, districts: Mapping[str, BaseGeometry], wanted: Sequence[str]
) -> dict[str, BaseGeometry]:
    """Cut ``ward`` by the ``wanted`` districts; give leftover slivers to the nearest piece."""
    pieces = {d: polygonal(shapely.intersection(ward, districts[d])) for d in wanted}
    pieces = {d: g for d, g in pieces.items() if not g.is_empty}
    if not pieces:  # the sources disagree completely: the whole ward goes to the first district
        return {wanted[0]: polygonal(ward)}
    covered = shapely.union_all(list(pieces.values()))
    leftover = polygonal(shapely.difference(ward, covered))
    if leftover.is_empty:
        return pieces
    keys = sorted(pieces)
    extra: dict[str, list[BaseGeometry]] = defaultdict(list)
    for part in shapely.get_parts(leftover):
        dist = [shapely.distance(part, pieces[k]) for k in keys]
        extra[keys[dist.index(min(dist))]].append(part)
    for key, parts in extra.items():
        pieces[key] = polygonal(shapely.union_all([pieces[key], *parts]))
    return pieces


def approximate_old_wards(
    new_wards: Mapping[str, BaseGeometry],
    districts: Mapping[str, BaseGeometry],
    old_district: Mapping[str, str],
    pairs: Sequence[Pair],
    population: Mapping[str, float],
) -> ApproximateWards:
    """Derive the old wards' polygons (see the module docstring)."""
    out = ApproximateWards()
    fanout: dict[str, int] = defaultdict(int)
    by_new: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for p in pairs:
        if p.old_code in old_district and p.new_code in new_wards:
            fanout[p.old_code] += 1
            by_new[p.new_code][old_district[p.old_code]].append(p.old_code)
    parts: dict[str, list[BaseGeometry]] = defaultdict(list)
    for new_code in sorted(by_new):
        groups = by_new[new_code]
        wanted = sorted(d for d in groups if d in districts)
        if not wanted:
            continue
        pieces = _pieces(new_wards[new_code], districts, wanted)
        for district, piece in sorted(pieces.items()):
            olds = sorted(set(groups[district]))
            if len(olds) == 1:
                out.single_pieces += 1
                cut = [piece]
            else:
                out.shared_pieces += 1
                # a partial ward's people are spread over the new wards it feeds
                cut = split(piece, [population.get(o, 0.0) / fanout[o] for o in olds])
            for old, geom in zip(olds, cut, strict=True):
                parts[old].append(geom)
                out.piece_area[(old, new_code)] = out.piece_area.get((old, new_code), 0.0) + geom.area
    for old in sorted(old_district):
        if not parts.get(old):
            out.missing.append(old)
            continue
        geom = polygonal(shapely.union_all(parts[old]) if len(parts[old]) > 1 else parts[old][0])
        if not geom.is_valid:
            geom = polygonal(shapely.make_valid(geom))
        out.geoms[old] = geom
    return out
