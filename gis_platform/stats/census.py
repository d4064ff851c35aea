"""The real 2009 and 2019 census population per ward, brought onto the 2025-01-01 ward list.

The census file is keyed by 2019 ward codes (322 wards, 24 districts). Wards merged in 2020 and on
2025-01-01 mostly kept one of the merged wards' codes, so a 2019 ward is matched to a 2025 ward
(1) by code, then (2) by name within its district (diacritic-insensitive, leading zeros ignored:
"Phường 05" is "Phường 5"); 2019 wards matched by neither are listed in the report and their
people are not counted anywhere (no open 2019→2025 merge table exists to place them).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gis_platform.text import fold, nfc

CENSUS_CSV = "hcmc_ward_population_census_2009_2019.csv"
CENSUS_SOURCE = (
    "General Statistics Office of Vietnam, Population and Housing Census 2009 and 2019, per 2019 ward, "
    "as compiled by CityScope/CSL_HCMC (codes, names and counts only)"
)
CENSUS_URL = "https://github.com/CityScope/CSL_HCMC"
CENSUS_LICENCE = "Official census figures (facts, not copyrightable)"

#: 2019 districts merged into Thủ Đức city (769) on 2021-01-01 (see PROVENANCE.md §3).
DISTRICT_SUCCESSOR = {"762": "769", "763": "769"}

_LEADING_ZEROS = re.compile(r"\b0+(\d)")


def name_key(name: str) -> str:
    """Fold a ward name for matching: ``'Phường 05'`` → ``'phuong 5'``."""
    return _LEADING_ZEROS.sub(r"\1", " ".join(fold(nfc(name)).split()))


@dataclass(frozen=True)
class CensusRow:
    """One 2019 ward of the census file."""

    row: int
    code: str
    name: str
    district_code: str
    district_name: str
    population_2009: int
    population_2019: int


@dataclass
class CensusMatch:
    """The census brought onto a ward list: population per target ward and the match report."""

    population: dict[str, dict[str, int]] = field(default_factory=dict)  # period -> code -> people
    report: dict[str, Any] = field(default_factory=dict)


def read_census(sources: Path) -> list[CensusRow]:
    """Read the census file (row numbers count the header as row 1)."""
    with (sources / CENSUS_CSV).open(encoding="utf-8", newline="") as fh:
        return [
            CensusRow(
                row=i,
                code=r["ward_code_2019"].strip(),
                name=nfc(r["ward_full_name"].strip()),
                district_code=r["district_code_2019"].strip(),
                district_name=nfc(r["district_full_name"].strip()),
                population_2009=int(r["population_2009"]),
                population_2019=int(r["population_2019"]),
            )
            for i, r in enumerate(csv.DictReader(fh), start=2)
        ]


def match_census(rows: Iterable[CensusRow], wards: Iterable[dict[str, Any]]) -> CensusMatch:
    """Match 2019 census wards onto ``wards`` (dicts with code, full_name_vi, parent_code)."""
    targets = {w["code"]: w for w in wards}
    by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
    for w in targets.values():
        by_name[(w["parent_code"], name_key(w["full_name_vi"]))].append(w["code"])
    totals: dict[str, dict[str, int]] = {"2009": defaultdict(int), "2019": defaultdict(int)}
    matched: list[dict[str, Any]] = []
    unmatched: list[dict[str, Any]] = []
    ambiguous: list[dict[str, Any]] = []
    rows = list(rows)
    for r in rows:
        base = {"row": r.row, "code_2019": r.code, "name_2019": r.name, "district_2019": r.district_name}
        district = DISTRICT_SUCCESSOR.get(r.district_code, r.district_code)
        target: str | None = None
        how = ""
        if r.code in targets:
            target, how = r.code, "code"
            if name_key(targets[r.code]["full_name_vi"]) != name_key(r.name):
                how = "code (renamed or merged)"
        else:
            found = by_name.get((district, name_key(r.name)), [])
            if len(found) == 1:
                target, how = found[0], "name within district"
            elif len(found) > 1:
                ambiguous.append({**base, "candidates": sorted(found)})
                continue
        if target is None:
            unmatched.append({**base, "population_2019": r.population_2019})
            continue
        totals["2009"][target] += r.population_2009
        totals["2019"][target] += r.population_2019
        matched.append({**base, "code": target, "name": targets[target]["full_name_vi"], "method": how})
    covered = set(totals["2019"])
    report = {
        "source": CENSUS_SOURCE,
        "rows": len(rows),
        "matched": len(matched),
        "matched_by": _count(m["method"] for m in matched),
        "unmatched": unmatched,
        "ambiguous": ambiguous,
        "targets": len(targets),
        "targets_with_population": len(covered),
        "targets_without_population": sorted(set(targets) - covered),
        "population_2019_total": sum(r.population_2019 for r in rows),
        "population_2019_placed": sum(totals["2019"].values()),
        "matches": matched,
    }
    return CensusMatch(population={k: dict(v) for k, v in totals.items()}, report=report)


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[v] += 1
    return dict(sorted(out.items()))
