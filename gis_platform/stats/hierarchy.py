"""Build the hierarchy below and beside the real boundaries (idempotent: a second run writes nothing).

Approximate polygons of the 273 old wards, synthetic neighbourhoods and residential groups of both
ward versions, and the crosswalk shares between the two versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import shapely
from shapely.geometry.base import BaseGeometry

from gis_platform.errors import PlatformError
from gis_platform.stats import queries
from gis_platform.stats.census import CENSUS_CSV, match_census, read_census
from gis_platform.stats.crosswalk import estimate_shares, fill_share_new
from gis_platform.stats.derive import Pair, approximate_old_wards, relation_of
from gis_platform.stats.neighbourhoods import SyntheticUnit, Ward, subdivide_ward
from gis_platform.stats.synthetic import synthetic_population
from gis_platform.text import fold

logger = logging.getLogger(__name__)

OLD_WARDS = "hcmc-wards-2025-01-01"
NEW_WARDS = "hcmc-wards-2025-07-01"
DISTRICTS = "hcmc-districts-2021-01-01"
ALGORITHM = "stats-derive-v1"


class AdminUnitsMissing(PlatformError):
    """The administrative units must be loaded before statistics can be derived."""

    type = "admin-units-missing"
    title = "Administrative units not loaded"
    status = 409


@dataclass(frozen=True)
class SyntheticVersion:
    """A generated boundary version below one ward version."""

    id: str
    level: str
    ward_version: str
    title: str
    licence: str


SYNTHETIC_VERSIONS = (
    SyntheticVersion("hcmc-neighbourhoods-2025-01-01", "neighbourhood", OLD_WARDS,
                     "Synthetic neighbourhoods (khu phố/ấp) of the 273 wards, 2025-01-01 to 2025-06-30", "GPL-3.0"),
    SyntheticVersion("hcmc-groups-2025-01-01", "residential_group", OLD_WARDS,
                     "Synthetic residential groups (tổ dân phố) of the 273 wards", "GPL-3.0"),
    SyntheticVersion("hcmc-neighbourhoods-2025-07-01", "neighbourhood", NEW_WARDS,
                     "Synthetic neighbourhoods (khu phố/ấp) of the 168 wards, from 2025-07-01", "MIT"),
    SyntheticVersion("hcmc-groups-2025-07-01", "residential_group", NEW_WARDS,
                     "Synthetic residential groups (tổ dân phố) of the 168 wards", "MIT"),
)  # fmt: skip


@dataclass
class DeriveReport:
    """What a derivation computed and wrote."""

    approximate_wards: int = 0
    missing_wards: list[str] = field(default_factory=list)
    single_pieces: int = 0
    shared_pieces: int = 0
    neighbourhoods: int = 0
    residential_groups: int = 0
    crosswalk_pairs: int = 0
    written: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: bool = False

    @property
    def changed(self) -> int:
        """Rows written (zero on an idempotent re-run)."""
        return sum(self.written.values())


@dataclass
class HierarchyInputs:
    """What the derivation reads from the database."""

    new: list[dict[str, Any]]
    old: list[dict[str, Any]]
    districts: list[dict[str, Any]]
    pairs: list[Pair]


def read_inputs(conn: psycopg.Connection[Any]) -> HierarchyInputs:
    """Read the real units and the official table; fail clearly when they are not loaded."""
    new = queries.select_units_of_version(conn, NEW_WARDS)
    old = queries.select_units_of_version(conn, OLD_WARDS)
    districts = queries.select_units_of_version(conn, DISTRICTS)
    if not new or not old or not districts:
        raise AdminUnitsMissing("Load the administrative units first (gis-platform demo load).")
    raw = queries.select_crosswalk_raw(conn, OLD_WARDS, NEW_WARDS)
    pairs = [
        Pair(r["old_code"], r["new_code"], relation_of(r["relation"], r["note"]), r["note"]) for r in raw
    ]
    return HierarchyInputs(new, old, districts, pairs)


def _geom(row: dict[str, Any]) -> BaseGeometry:
    return shapely.from_wkb(bytes(row["wkb"]))


def new_ward_population(
    inputs: HierarchyInputs, shares: Sequence[Any], pop_old: dict[str, int]
) -> dict[str, float]:
    """Population of each new ward: converted census where its old wards are HCMC's, else synthetic."""
    people: dict[str, float] = {}
    for s in shares:
        people[s.new_code] = people.get(s.new_code, 0.0) + s.share_old * pop_old.get(s.old_code, 0)
    for w in inputs.new:
        if w["code"] not in people:
            people[w["code"]] = synthetic_population(w["code"], w["unit_type"], w["area_km2"] or 0.0, "2019")
    return people


def _unit_rows(version: SyntheticVersion, ward_valid: tuple[date, date | None],
               units: Sequence[SyntheticUnit]) -> Iterator[tuple[Any, ...]]:  # fmt: skip
    attrs = json.dumps({"derivation": ALGORITHM, "synthetic": True}, sort_keys=True)
    for u in units:
        if u.level != version.level:
            continue
        yield (version.id, u.code, u.level, u.unit_type, u.name_vi, u.full_name_vi, fold(u.name_vi),
               u.name_en, u.parent_code, ward_valid[0], ward_valid[1], shapely.to_wkb(u.geom), attrs)  # fmt: skip


def fingerprint(conn: psycopg.Connection[Any], sources: Path) -> str:
    """What the derived content depends on: the algorithm, the input versions' checksums, the census."""
    inputs = queries.select_fingerprints(conn, [NEW_WARDS, OLD_WARDS, DISTRICTS])
    digest = hashlib.sha256(ALGORITHM.encode())
    for vid, checksum in sorted(inputs.items()):
        digest.update(f"{vid}={checksum};".encode())
    digest.update((sources / CENSUS_CSV).read_bytes())
    return f"{ALGORITHM}:{digest.hexdigest()[:32]}"


def derive_hierarchy(conn: psycopg.Connection[Any], sources: Path, *, force: bool = False) -> DeriveReport:
    """Derive approximate old wards, synthetic neighbourhoods and groups, and crosswalk shares.

    Skipped (nothing read, nothing written) when the inputs have not changed since the last run,
    unless ``force``: the result would be identical, row for row.
    """
    started = time.perf_counter()
    inputs = read_inputs(conn)
    print_ = fingerprint(conn, sources)
    marks = queries.select_fingerprints(conn, [v.id for v in SYNTHETIC_VERSIONS])
    units_current = not force and len(marks) == len(SYNTHETIC_VERSIONS) and set(marks.values()) == {print_}
    if units_current and queries.count_not_approximate(conn, OLD_WARDS) == 0:
        return DeriveReport(skipped=True, seconds=round(time.perf_counter() - started, 2))
    census = match_census(read_census(sources), inputs.old)
    pop_old = census.population["2019"]
    old_district = {r["code"]: r["parent_code"] for r in inputs.old}
    approx = approximate_old_wards(
        {r["code"]: _geom(r) for r in inputs.new},
        {r["code"]: _geom(r) for r in inputs.districts},
        old_district,
        inputs.pairs,
        {k: float(v) for k, v in pop_old.items()},
    )
    hcmc_pairs = [p for p in inputs.pairs if p.old_code in old_district]
    shares = estimate_shares(hcmc_pairs, approx.piece_area, {k: float(v) for k, v in pop_old.items()})
    edited = {(r["old_code"], r["new_code"]): r for r in queries.select_crosswalk(conn, OLD_WARDS, NEW_WARDS)
              if r["method"] == "editor"}  # fmt: skip
    if edited:  # an editor's shares win over the estimate; the reverse shares follow them
        for s in shares:
            if (s.old_code, s.new_code) in edited:
                s.share_old, s.method = edited[(s.old_code, s.new_code)]["share_old"], "editor"
        fill_share_new(shares, {k: float(v) for k, v in pop_old.items()})
    pop_new = new_ward_population(inputs, shares, pop_old)
    report = DeriveReport(
        approximate_wards=len(approx.geoms), missing_wards=approx.missing, single_pieces=approx.single_pieces,
        shared_pieces=approx.shared_pieces, crosswalk_pairs=len(shares),
    )  # fmt: skip
    generated: dict[str, list[SyntheticUnit]] = {OLD_WARDS: [], NEW_WARDS: []}
    for r in inputs.old if not units_current else []:
        if r["code"] in approx.geoms:
            ward = Ward(r["code"], OLD_WARDS, r["full_name_vi"] or r["name_vi"], r["unit_type"],
                        approx.geoms[r["code"]], float(pop_old.get(r["code"], 0)) or 5000.0)  # fmt: skip
            generated[OLD_WARDS].extend(subdivide_ward(ward))
    for r in inputs.new if not units_current else []:
        ward = Ward(r["code"], NEW_WARDS, r["full_name_vi"] or r["name_vi"], r["unit_type"], _geom(r),
                    pop_new[r["code"]])  # fmt: skip
        generated[NEW_WARDS].extend(subdivide_ward(ward))
    all_units = generated[OLD_WARDS] + generated[NEW_WARDS]
    report.neighbourhoods = sum(1 for u in all_units if u.level == "neighbourhood")
    report.residential_groups = len(all_units) - report.neighbourhoods
    validity = {OLD_WARDS: (inputs.old[0]["valid_from"], inputs.old[0]["valid_to"]),
                NEW_WARDS: (inputs.new[0]["valid_from"], inputs.new[0]["valid_to"])}  # fmt: skip
    logger.info("hierarchy computed in %.1fs", time.perf_counter() - started)
    with conn.transaction():
        written = report.written
        written["versions"] = queries.set_version_quality(conn, OLD_WARDS, "approximate")
        for v in SYNTHETIC_VERSIONS:
            row = _version_row(v, validity[v.ward_version], print_)
            written["versions"] += queries.upsert_boundary_version(conn, row)
        written["approximate_wards"] = queries.update_ward_geometry(
            conn, OLD_WARDS, ((c, shapely.to_wkb(g)) for c, g in sorted(approx.geoms.items())), "approximate"
        )
        if not units_current:  # only the old wards' geometry was lost (reloaded admin units): keep the rest
            rows = (row for v in SYNTHETIC_VERSIONS
                    for row in _unit_rows(v, validity[v.ward_version], generated[v.ward_version]))  # fmt: skip
            counts = queries.replace_synthetic_units(conn, [v.id for v in SYNTHETIC_VERSIONS], rows)
            written.update({f"units_{k}": n for k, n in counts.items()})
        written["crosswalk"] = queries.upsert_crosswalk(
            conn, OLD_WARDS, NEW_WARDS, [s.row() for s in shares], author=None, force=False
        )
    report.seconds = round(time.perf_counter() - started, 2)
    logger.info("hierarchy derived: %s", report)
    return report


def _version_row(v: SyntheticVersion, validity: tuple[date, date | None], print_: str) -> dict[str, Any]:
    ward_source = (
        "the 168 official ward polygons"
        if v.ward_version == NEW_WARDS
        else (
            "the approximate 273-ward polygons (derived from the official district polygons and old→new table)"
        )
    )
    return {
        "id": v.id, "title": v.title, "level": v.level, "valid_from": validity[0], "valid_to": validity[1],
        "geometry_quality": "synthetic", "source": f"Synthetic subdivision of {ward_source}",
        "source_url": None, "licence": v.licence,
        "attribution": "Synthetic boundaries generated by gis_platform (not real); derived from " + ward_source,
        "checksum": print_,
    }  # fmt: skip
