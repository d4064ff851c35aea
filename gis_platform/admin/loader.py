"""Load HCMC's real administrative units (see ``layers/sources/hcmc/PROVENANCE.md``) into ``admin``.

Every boundary version is upserted: rows whose content is unchanged are not rewritten, so a second
run reports zero changes and leaves the tables as they were.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry

from gis_platform.admin import queries
from gis_platform.text import fold, nfc

logger = logging.getLogger(__name__)

WARDS_2025_GPKG = "hcmc_wards_2025_tlq.gpkg"
WARDS_PRE2025_CSV = "hcmc_wards_pre2025_list_2025-03-01.csv"
DISTRICTS_GEOJSON = "hcmc_districts_pre2025.geojson"
CONVERSION_CSV = "hcmc_ward_conversion_old_to_new_2025-07-01_nso.csv"

TLQ = "thanglequoc/vietnamese-provinces-database"
TLQ_URL = "https://github.com/thanglequoc/vietnamese-provinces-database"
DVHCVN_URL = "https://github.com/daohoangson/dvhcvn"
NSO_URL = "https://github.com/sunshine-tech/VietnamProvinces"

REFORM_DAY = date(2025, 7, 1)
LAST_PRE_REFORM_DAY = date(2025, 6, 30)

_UNIT_TYPES = ("Thành phố", "Thị trấn", "Đặc khu", "Phường", "Huyện", "Quận", "Xã")


@dataclass(frozen=True)
class BoundaryVersion:
    """One published set of boundaries of one level, with where it came from."""

    id: str
    title: str
    level: str
    valid_from: date
    valid_to: date | None
    geometry_quality: str | None
    source: str
    source_url: str
    licence: str
    attribution: str
    checksum: str


@dataclass
class Unit:
    """One administrative unit as it goes into ``admin.admin_unit``."""

    code: str
    level: str
    name_vi: str
    full_name_vi: str
    name_en: str | None
    full_name_en: str | None
    unit_type: str | None
    parent_code: str | None
    geom: BaseGeometry | None = None
    geom_quality: str | None = None
    area_km2_official: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadReport:
    """What a load did, per boundary version: rows inserted, updated and left unchanged."""

    versions: dict[str, dict[str, int]] = field(default_factory=dict)
    crosswalk: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        """Rows written in total (zero on an idempotent re-run)."""
        units = sum(v["inserted"] + v["updated"] for v in self.versions.values())
        return units + self.crosswalk.get("inserted", 0) + self.crosswalk.get("updated", 0)


def split_unit_type(full_name: str) -> tuple[str | None, str]:
    """Split ``'Phường Tân Định'`` into ``('Phường', 'Tân Định')``."""
    for prefix in _UNIT_TYPES:
        if full_name.startswith(prefix + " "):
            return prefix, full_name[len(prefix) + 1 :]
    return None, full_name


def display_name(full_name: str, short: str) -> str:
    """Return the name people use: the short name, or the full one when the short is just a number."""
    return full_name if short.strip().isdigit() else short


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [{k: nfc(v.strip()) for k, v in row.items()} for row in csv.DictReader(fh)]


def _multi(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    return geom


def read_wards_2025(sources: Path) -> tuple[Unit, list[Unit]]:
    """Read the new city polygon and its 168 wards/communes (valid from 2025-07-01)."""
    path = sources / WARDS_2025_GPKG
    province = pyogrio.read_dataframe(path, layer="province_2025")
    row = province.iloc[0]
    city = Unit(
        code=str(row["code"]),
        level="city",
        name_vi=nfc(str(row["name"])),
        full_name_vi=nfc(str(row["fullName"])),
        name_en=str(row["nameEn"]),
        full_name_en=str(row["fullNameEn"]),
        unit_type="Thành phố",
        parent_code=None,
        geom=_multi(row.geometry),
        geom_quality="official",
        area_km2_official=float(row["areaKm2"]),
    )
    wards = pyogrio.read_dataframe(path, layer="wards_2025")
    units = [
        Unit(
            code=str(r["code"]),
            level="ward",
            name_vi=display_name(nfc(r["fullName"]), nfc(r["name"])),
            full_name_vi=nfc(r["fullName"]),
            name_en=r["nameEn"],
            full_name_en=r["fullNameEn"],
            unit_type=nfc(r["unit_type"]),
            parent_code=city.code,
            geom=_multi(r.geometry),
            geom_quality="official",
            area_km2_official=float(r["areaKm2"]),
            attributes={"code_name": r["codeName"], "gis_server_id": r["gisServerId"]},
        )
        for _, r in wards.iterrows()
    ]
    return city, units


def read_districts_pre2025(sources: Path) -> tuple[Unit, list[Unit]]:
    """Read the 22 districts valid 2021-01-01 .. 2025-06-30 and derive the old city from their union."""
    frame = pyogrio.read_dataframe(sources / DISTRICTS_GEOJSON)
    english = {r["district_code"]: r["district_name_en"] for r in _read_csv(sources / WARDS_PRE2025_CSV)}
    units = []
    for _, r in frame.iterrows():
        full = nfc(r["district_name"])
        unit_type, short = split_unit_type(full)
        units.append(
            Unit(
                code=str(r["district_code"]),
                level="district",
                name_vi=display_name(full, short),
                full_name_vi=full,
                name_en=english.get(str(r["district_code"])),
                full_name_en=english.get(str(r["district_code"])),
                unit_type=unit_type,
                parent_code=str(r["province_code"]),
                geom=_multi(r.geometry),
                geom_quality="official",
                attributes={"source_area_km2": float(r["area_km2"])},
            )
        )
    union = shapely.union_all([u.geom for u in units if u.geom is not None])
    city = Unit(
        code="79",
        level="city",
        name_vi="Hồ Chí Minh",
        full_name_vi="Thành phố Hồ Chí Minh",
        name_en="Ho Chi Minh",
        full_name_en="Ho Chi Minh City",
        unit_type="Thành phố",
        parent_code=None,
        geom=_multi(union),
        geom_quality="derived",
        attributes={"derivation": "union of the 22 district polygons"},
    )
    return city, units


def read_wards_pre2025(sources: Path) -> list[Unit]:
    """Read the 273 wards/communes valid 2025-01-01 .. 2025-06-30 (no open polygons exist)."""
    return [
        Unit(
            code=r["ward_code"],
            level="ward",
            name_vi=display_name(r["ward_full_name"], r["ward_name"]),
            full_name_vi=r["ward_full_name"],
            name_en=r["ward_name_en"] if not r["ward_name_en"].isdigit() else f"Ward {r['ward_name_en']}",
            full_name_en=None,
            unit_type=split_unit_type(r["ward_full_name"])[0],
            parent_code=r["district_code"],
        )
        for r in _read_csv(sources / WARDS_PRE2025_CSV)
    ]


def _relation(note: str) -> str:
    if note.startswith("Nhập toàn bộ"):
        return "whole"
    if note.startswith("Nhập một phần"):
        return "partial"
    if note.startswith("Giữ nguyên"):
        return "unchanged"
    return "other"


def _code_in_parens(text: str) -> str:
    return text.rsplit("(", 1)[-1].rstrip(")").strip() if "(" in text else text


def read_crosswalk(sources: Path) -> list[dict[str, str]]:
    """Read the official old → new ward table (whole and partial merges, three old provinces)."""
    return [
        {
            "old_code": r["old_ward_code"],
            "old_name": r["old_ward_name"],
            "old_district": r["old_district"],
            "old_province": r["old_province"],
            "new_code": r["new_ward_code"],
            "new_name": r["new_ward_name"],
            "relation": _relation(r["note"].strip('"')),
            "note": r["note"].strip('"'),
            "old_province_code": _code_in_parens(r["old_province"]),
        }
        for r in _read_csv(sources / CONVERSION_CSV)
    ]


def boundary_versions(sources: Path) -> list[BoundaryVersion]:
    """Describe the boundary versions this loader provides, with their source and licence."""
    gpkg = _sha256(sources / WARDS_2025_GPKG)
    districts = _sha256(sources / DISTRICTS_GEOJSON)
    wards_csv = _sha256(sources / WARDS_PRE2025_CSV)
    tlq_attr = f"Boundaries: {TLQ} (MIT), derived from the Vietnam Administrative Units Reference Map"
    dvhcvn_attr = "District boundaries: daohoangson/dvhcvn (GPL-3.0), from gis.chinhphu.vn"
    return [
        BoundaryVersion("hcmc-city-2025-07-01", "Ho Chi Minh City after the 2025 reform", "city",
                        REFORM_DAY, None, "official", TLQ, TLQ_URL, "MIT", tlq_attr, gpkg),
        BoundaryVersion("hcmc-wards-2025-07-01", "168 wards and communes from 2025-07-01", "ward",
                        REFORM_DAY, None, "official", TLQ, TLQ_URL, "MIT", tlq_attr, gpkg),
        BoundaryVersion("hcmc-city-2021-01-01", "Ho Chi Minh City 2021-2025 (union of districts)", "city",
                        date(2021, 1, 1), LAST_PRE_REFORM_DAY, "derived", "daohoangson/dvhcvn", DVHCVN_URL,
                        "GPL-3.0", dvhcvn_attr, districts),
        BoundaryVersion("hcmc-districts-2021-01-01", "22 districts 2021-01-01 to 2025-06-30", "district",
                        date(2021, 1, 1), LAST_PRE_REFORM_DAY, "official", "daohoangson/dvhcvn", DVHCVN_URL,
                        "GPL-3.0", dvhcvn_attr, districts),
        # no open polygons exist: the statistics derive approximate ones (geometry_quality says so)
        BoundaryVersion("hcmc-wards-2025-01-01", "273 wards and communes 2025-01-01 to 2025-06-30", "ward",
                        date(2025, 1, 1), LAST_PRE_REFORM_DAY, "approximate", TLQ, TLQ_URL, "MIT",
                        f"Ward list: {TLQ} (MIT), decree 1365/NQ-UBTVQH15", wards_csv),
    ]  # fmt: skip


def _unit_rows(version: BoundaryVersion, units: Iterable[Unit]) -> Iterator[dict[str, Any]]:
    for u in units:
        yield {
            "boundary_version": version.id,
            "code": u.code,
            "level": u.level,
            "unit_type": u.unit_type,
            "name_vi": u.name_vi,
            "full_name_vi": u.full_name_vi,
            "name_ascii": fold(u.name_vi),
            "name_en": u.name_en,
            "full_name_en": u.full_name_en,
            "parent_code": u.parent_code,
            "valid_from": version.valid_from,
            "valid_to": version.valid_to,
            "geom": shapely.to_wkb(u.geom, hex=False) if u.geom is not None else None,
            "geom_quality": u.geom_quality,
            "area_km2_official": u.area_km2_official,
            "attributes": json.dumps(u.attributes, sort_keys=True, ensure_ascii=False),
        }


def load_hcmc(conn: psycopg.Connection[Any], sources: Path) -> LoadReport:
    """Load every HCMC boundary version and the raw crosswalk in one transaction."""
    versions = {v.id: v for v in boundary_versions(sources)}
    new_city, new_wards = read_wards_2025(sources)
    old_city, districts = read_districts_pre2025(sources)
    content = {
        "hcmc-city-2025-07-01": [new_city],
        "hcmc-wards-2025-07-01": new_wards,
        "hcmc-city-2021-01-01": [old_city],
        "hcmc-districts-2021-01-01": districts,
        "hcmc-wards-2025-01-01": read_wards_pre2025(sources),
    }
    report = LoadReport()
    with conn.transaction():
        for vid, units in content.items():
            version = versions[vid]
            queries.upsert_boundary_version(conn, version.__dict__)
            report.versions[vid] = queries.upsert_units(conn, list(_unit_rows(version, units)))
        queries.link_parents(conn)
        rows = [
            {**r, "from_version": "hcmc-wards-2025-01-01", "to_version": "hcmc-wards-2025-07-01",
             "source": f"NSO conversion table via {NSO_URL} (GPL-3.0)"}
            for r in read_crosswalk(sources)
        ]  # fmt: skip
        report.crosswalk = queries.upsert_crosswalk(conn, rows)
    logger.info("admin units loaded: %s", report)
    return report
