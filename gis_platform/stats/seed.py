"""Seed the indicator registry, the real census population and synthetic indicators (labelled so).

Idempotent: every value is a deterministic function of its unit, indicator and period, and rows are
only written when they differ, so a second run writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from gis_platform.stats import queries
from gis_platform.stats.census import CENSUS_CSV, CENSUS_SOURCE, match_census, read_census
from gis_platform.stats.hierarchy import NEW_WARDS, OLD_WARDS, read_inputs
from gis_platform.stats.indicators import DTI_PILLARS, HOTLINE_FIELDS, registry
from gis_platform.stats.periods import period_bounds
from gis_platform.stats.synthetic import SYNTHETIC_SOURCE, jitter, synthetic_population

logger = logging.getLogger(__name__)

SEED_KEY = "seed-synthetic-v1"
CENSUS_KEY = "census-2009-2019-onto-hcmc-wards-2025-01-01"
DISTRICTS = "hcmc-districts-2021-01-01"
NEW_NEIGHBOURHOODS = "hcmc-neighbourhoods-2025-07-01"

OLD_QUARTERS = ("2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2")
NEW_QUARTERS = ("2025-Q3", "2025-Q4")
DTI_YEARS = ("2022", "2023", "2024")

#: reports per 1,000 residents per quarter, by hotline field (synthetic base rates)
_HOTLINE_RATE = dict(zip((f for f, _, _ in HOTLINE_FIELDS),
                         (2.0, 1.6, 1.4, 0.9, 0.6, 0.7, 0.5, 1.1, 0.8, 0.9, 0.3, 0.2, 0.4, 0.6, 0.3), strict=True))  # fmt: skip

#: residents → count, for the yearly residence and welfare figures (low, high of a per-unit factor)
_PER_PERSON = {
    "permanent_residents": (0.6, 0.85),
    "temporary_residents": (0.15, 0.45),
    "welfare_beneficiaries": (0.008, 0.025),
    "military_age_citizens": (0.006, 0.010),
}

Row = tuple[Any, ...]


@dataclass
class SeedReport:
    """What a seed run wrote."""

    indicators: int = 0
    observations: dict[str, int] = field(default_factory=dict)
    census: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: bool = False

    @property
    def changed(self) -> int:
        """Rows written (zero on an idempotent re-run)."""
        return self.indicators + sum(self.observations.values())


def _obs(indicator: str, version: str, level: str, code: str, period: str, value: float, source: str,
         synthetic: bool, run: int) -> Row:  # fmt: skip
    start, end = period_bounds(period)
    return (indicator, version, level, code, period, start, end, float(value), source, synthetic, run)


def _yearly(version: str, level: str, code: str, people: float, period: str, run: int) -> Iterator[Row]:
    keys = (version, code, period)
    yield _obs("households", version, level, code, period, round(people / jitter(3.0, 3.8, "hh", *keys)),
               SYNTHETIC_SOURCE, True, run)  # fmt: skip
    for ind, (low, high) in _PER_PERSON.items():
        value = round(people * jitter(low, high, ind, *keys))
        yield _obs(ind, version, level, code, period, value, SYNTHETIC_SOURCE, True, run)


def _quarterly(version: str, code: str, people: float, quarters: tuple[str, ...], run: int) -> Iterator[Row]:
    for q, period in enumerate(quarters):
        trend = 1 + 0.06 * q
        online = round(
            people * jitter(0.01, 0.04, "online", version, code) * trend * jitter(0.9, 1.1, period, code)
        )
        yield _obs("online_procedures", version, "ward", code, period, online, SYNTHETIC_SOURCE, True, run)
        for f, rate in _HOTLINE_RATE.items():
            value = round(people / 1000 * rate * jitter(0.4, 1.6, "hotline", f, version, code, period))
            yield _obs(f"hotline_{f}", version, "ward", code, period, value, SYNTHETIC_SOURCE, True, run)


def _new_ward_people(conn: psycopg.Connection[Any], pop_old: dict[str, int]) -> dict[str, float]:
    people: dict[str, float] = {}
    for s in queries.select_crosswalk(conn, OLD_WARDS, NEW_WARDS):
        people[s["new_code"]] = people.get(s["new_code"], 0.0) + s["share_old"] * pop_old.get(
            s["old_code"], 0
        )
    return people


def fingerprint(conn: psycopg.Connection[Any], sources: Path) -> str:
    """What the seeded rows depend on: registry, census, derived boundaries and crosswalk shares."""
    digest = hashlib.sha256(SEED_KEY.encode())
    digest.update(json.dumps([i.row() for i in registry()], sort_keys=True, default=str).encode())
    digest.update((sources / CENSUS_CSV).read_bytes())
    digest.update(json.dumps(queries.select_fingerprints(conn, [NEW_NEIGHBOURHOODS, OLD_WARDS, NEW_WARDS]),
                             sort_keys=True).encode())  # fmt: skip
    digest.update(json.dumps(queries.select_crosswalk(conn, OLD_WARDS, NEW_WARDS), default=str).encode())
    return digest.hexdigest()[:32]


def seed(conn: psycopg.Connection[Any], sources: Path, *, force: bool = False) -> SeedReport:
    """Seed indicators, the census population and synthetic indicators in one transaction.

    Skipped when nothing it depends on changed since the last run (unless ``force``).
    """
    started = time.perf_counter()
    inputs = read_inputs(conn)
    census = match_census(read_census(sources), inputs.old)
    report = SeedReport(census={k: v for k, v in census.report.items() if k != "matches"})
    print_ = fingerprint(conn, sources)
    last = queries.select_run(conn, SEED_KEY)
    if (
        not force
        and last
        and last["report"].get("fingerprint") == print_
        and (queries.count_run_observations(conn, last["id"]) == last["report"].get("observations"))
    ):
        report.skipped, report.seconds = True, round(time.perf_counter() - started, 2)
        return report
    with conn.transaction():
        report.indicators = queries.upsert_indicators(conn, [i.row() for i in registry()])
        census_run = queries.upsert_run(conn, {
            "key": CENSUS_KEY, "kind": "census", "indicator_code": "population", "period": "2019",
            "source": CENSUS_SOURCE, "author": None, "rows_total": census.report["rows"],
            "rows_written": census.report["matched"], "report": json.dumps(census.report, ensure_ascii=False),
        })  # fmt: skip
        seed_run = queries.upsert_run(conn, {
            "key": SEED_KEY, "kind": "seed", "indicator_code": None, "period": None,
            "source": SYNTHETIC_SOURCE, "author": None, "rows_total": 0, "rows_written": 0, "report": "{}",
        })  # fmt: skip
        # materialised first: the generator reads the database, which it cannot do during a COPY
        rows = list(_rows(conn, inputs, census.population, census_run, seed_run))
        report.observations = queries.upsert_observations(conn, rows)
        synthetic = sum(1 for r in rows if r[-1] == seed_run)
        queries.upsert_run(conn, {
            "key": SEED_KEY, "kind": "seed", "indicator_code": None, "period": None, "source": SYNTHETIC_SOURCE,
            "author": None, "rows_total": synthetic, "rows_written": synthetic,
            "report": json.dumps({"fingerprint": print_, "observations": synthetic}),
        })  # fmt: skip
    report.seconds = round(time.perf_counter() - started, 2)
    logger.info("stats seeded: %s", report)
    return report


def _rows(conn: psycopg.Connection[Any], inputs: Any, population: dict[str, dict[str, int]], census_run: int,
          seed_run: int) -> Iterator[Row]:  # fmt: skip
    for period, values in population.items():
        for code, people in sorted(values.items()):
            yield _obs(
                "population", OLD_WARDS, "ward", code, period, people, CENSUS_SOURCE, False, census_run
            )
    pop_old = population["2019"]
    new_people = _new_ward_people(conn, pop_old)
    for w in inputs.new:  # no open census for the wards that came from Bình Dương and Bà Rịa-Vũng Tàu
        if w["code"] not in new_people:
            for period in ("2009", "2019"):
                value = synthetic_population(w["code"], w["unit_type"], w["area_km2"] or 0.0, period)
                yield _obs("population", NEW_WARDS, "ward", w["code"], period, value,
                           f"{SYNTHETIC_SOURCE}: no open census per ward here", True, seed_run)  # fmt: skip
            new_people[w["code"]] = synthetic_population(
                w["code"], w["unit_type"], w["area_km2"] or 0.0, "2019"
            )
    for w in inputs.old:
        residents = pop_old.get(w["code"], 0) * jitter(1.0, 1.12, "growth", w["code"])
        yield from _yearly(OLD_WARDS, "ward", w["code"], residents, "2024", seed_run)
        yield from _quarterly(OLD_WARDS, w["code"], residents, OLD_QUARTERS, seed_run)
    for w in inputs.new:
        yield from _quarterly(NEW_WARDS, w["code"], new_people[w["code"]] * 1.06, NEW_QUARTERS, seed_run)
    # the 2025 yearly figures are kept per neighbourhood, as the wards' own systems do; they roll up
    kps = queries.select_units_of_version(conn, NEW_NEIGHBOURHOODS)
    ward_area: dict[str, float] = {}
    for kp in kps:
        ward_area[kp["parent_code"]] = ward_area.get(kp["parent_code"], 0.0) + (kp["area_km2"] or 0.0)
    for kp in kps:
        share = (kp["area_km2"] or 0.0) / (ward_area[kp["parent_code"]] or 1.0)
        residents = new_people.get(kp["parent_code"], 0.0) * 1.06 * share * jitter(0.8, 1.2, "kp", kp["code"])
        yield from _yearly(NEW_NEIGHBOURHOODS, "neighbourhood", kp["code"], residents, "2025", seed_run)
    for d in inputs.districts:
        for y, year in enumerate(DTI_YEARS):
            for pillar, _, _ in DTI_PILLARS:
                score = min(1.0, jitter(0.35, 0.8, "dti", pillar, d["code"]) + 0.04 * y)
                yield _obs(f"dti_{pillar}", DISTRICTS, "district", d["code"], year, round(score, 4),
                           SYNTHETIC_SOURCE, True, seed_run)  # fmt: skip
