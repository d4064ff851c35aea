"""Observations from a CSV or XLSX file: parse, match rows to units, validate, report.

A file has a ``value`` column and names its unit by ``unit_code`` or by ``unit_name`` (Vietnamese,
diacritics optional) with an optional ``parent_name`` to tell apart the many "Phường 9" of the old
districts. Nothing here writes: :func:`plan_import` returns the rows to write and a match report,
or raises :class:`ObservationsInvalid` listing the offending rows (numbered as in the file, the
header being row 1).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gis_platform.errors import InvalidParameter, NotFound, PlatformError
from gis_platform.stats.census import name_key
from gis_platform.stats.indicators import NON_NEGATIVE
from gis_platform.stats.periods import is_period, period_bounds
from gis_platform.text import fold

MAX_ROWS = 100_000
MAX_UPLOAD_BYTES = 20_000_000

_ALIASES = {
    "unit_code": ("unit_code", "code", "ma", "ma_don_vi", "ward_code"),
    "unit_name": ("unit_name", "name", "ten", "ten_don_vi", "ward_name", "phuong", "phuong_xa"),
    "parent_name": ("parent_name", "parent", "district", "quan", "quan_huyen", "district_name", "khu_vuc"),
    "value": ("value", "gia_tri", "so_lieu"),
}


class ObservationsInvalid(PlatformError):
    """A file of observations that cannot be imported as it is (see ``errors`` / ``report``)."""

    type = "observations-invalid"
    title = "Invalid observations"
    status = 422


class UploadTooLarge(PlatformError):
    """An uploaded file over the size limit."""

    type = "upload-too-large"
    title = "Upload too large"
    status = 413


@dataclass(frozen=True)
class Candidate:
    """A unit a row may name."""

    code: str
    boundary_version: str
    level: str
    name_vi: str
    full_name_vi: str | None
    parent_code: str | None
    parent_name: str | None
    parent_full_name: str | None


@dataclass
class ImportPlan:
    """What an import would write, and the match report."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


LEVELS = ("city", "district", "ward", "neighbourhood", "residential_group")


def check_request(
    indicator: str, found: Mapping[str, Any] | None, period: str, level: str
) -> tuple[date, date, str]:
    """Validate what an import is about; return the period's bounds and the indicator's value type."""
    if found is None:
        raise NotFound(f"No indicator {indicator!r}.", parameter="indicator")
    if found["kind"] != "observed" or found["aggregation"] == "ratio":
        raise InvalidParameter("indicator", f"{indicator!r} is computed, not observed: import its parts")
    if not is_period(period):
        raise InvalidParameter("period", f"{period!r} is not a period: use YYYY, YYYY-Qn or YYYY-MM")
    if level not in LEVELS:
        raise InvalidParameter("level", f"level must be one of {', '.join(LEVELS)}")
    return (*period_bounds(period), str(found["value_type"]))


def _header(name: str) -> str:
    return "_".join(fold(name.strip()).replace("-", " ").split())


def read_table(data: bytes, filename: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """Read a CSV or XLSX into (canonical columns, [(row number, {column: cell})])."""
    if filename.lower().endswith((".xlsx", ".xlsm")):
        header, body = _read_xlsx(data)
    elif filename.lower().endswith((".csv", ".txt")):
        header, body = _read_csv(data)
    else:
        raise ObservationsInvalid(f"{filename!r}: expected a .csv or .xlsx file", errors=[])
    canonical: dict[int, str] = {}
    for i, h in enumerate(header):
        key = _header(str(h or ""))
        for name, aliases in _ALIASES.items():
            if key in aliases and name not in canonical.values():
                canonical[i] = name
    columns = sorted(set(canonical.values()))
    rows = []
    for number, cells in body:
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        rows.append((number, {canonical[i]: cells[i] for i in canonical if i < len(cells)}))
    if len(rows) > MAX_ROWS:
        raise ObservationsInvalid(f"more than {MAX_ROWS} rows", errors=[])
    return columns, rows


def _read_csv(data: bytes) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ObservationsInvalid("the CSV is not UTF-8", errors=[]) from exc
    dialect = (
        csv.excel_tab if text.split("\n", 1)[0].count("\t") > text.split("\n", 1)[0].count(",") else csv.excel
    )
    lines = list(csv.reader(io.StringIO(text), dialect))
    if not lines:
        raise ObservationsInvalid("the file is empty", errors=[])
    return lines[0], [(i, list(r)) for i, r in enumerate(lines[1:], start=2)]


def _read_xlsx(data: bytes) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    import openpyxl  # type: ignore[import-untyped]  # only XLSX imports need it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise ObservationsInvalid(f"the XLSX cannot be read: {exc}", errors=[]) from exc
    sheet = book.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    book.close()
    if not rows:
        raise ObservationsInvalid("the workbook's first sheet is empty", errors=[])
    return [str(h or "") for h in rows[0]], [(i, r) for i, r in enumerate(rows[1:], start=2)]


def parse_value(cell: Any) -> float:
    """A number from a cell; raise ValueError for text that is not one."""
    if isinstance(cell, bool):
        raise ValueError(str(cell))
    if isinstance(cell, int | float):
        value = float(cell)
    else:
        text = str(cell or "").strip().replace(" ", "").replace("\u00a0", "")
        if not text:
            raise ValueError("empty")
        value = float(text)
    if not math.isfinite(value):
        raise ValueError(str(cell))
    return value


class UnitIndex:
    """Units of one boundary version and level, findable by code or by folded name (and parent)."""

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self.by_code: dict[str, Candidate] = {}
        self.by_name: dict[str, list[Candidate]] = defaultdict(list)
        for c in candidates:
            self.by_code[c.code] = c
            for n in {name_key(c.name_vi), name_key(c.full_name_vi or c.name_vi)}:
                self.by_name[n].append(c)

    def find(self, code: str, name: str, parent: str) -> tuple[Candidate | None, list[Candidate], str]:
        """Return (match, candidates when ambiguous, reason when unmatched)."""
        if code:
            found = self.by_code.get(code)
            return (found, [], "") if found else (None, [], f"no unit with code {code!r}")
        if not name:
            return None, [], "neither unit_code nor unit_name is given"
        hits = self.by_name.get(name_key(name), [])
        if parent:
            p = name_key(parent)
            hits = [c for c in hits if p in {name_key(c.parent_name or ""), name_key(c.parent_full_name or ""),
                                             name_key(c.parent_code or "")}]  # fmt: skip
        if len(hits) == 1:
            return hits[0], [], ""
        if not hits:
            where = f" in {parent!r}" if parent else ""
            return None, [], f"no unit named {name!r}{where}"
        return None, sorted(hits, key=lambda c: c.code), ""


def plan_import(
    columns: Sequence[str],
    rows: Sequence[tuple[int, dict[str, Any]]],
    index: UnitIndex,
    *,
    value_type: str,
    allow_partial: bool,
) -> ImportPlan:
    """Match and validate ``rows``; raise :class:`ObservationsInvalid` unless they can be written."""
    missing = [c for c in ("value",) if c not in columns]
    if "unit_code" not in columns and "unit_name" not in columns:
        missing.append("unit_code or unit_name")
    if missing:
        raise ObservationsInvalid(f"missing columns: {', '.join(missing)}", errors=[{"row": 1, "error":
                                  f"missing columns: {', '.join(missing)}"}])  # fmt: skip
    errors: list[dict[str, Any]] = []
    unmatched: list[dict[str, Any]] = []
    ambiguous: list[dict[str, Any]] = []
    first_row: dict[str, int] = {}
    plan = ImportPlan()
    for number, cells in rows:
        code = str(cells.get("unit_code") or "").strip()
        name = str(cells.get("unit_name") or "").strip()
        parent = str(cells.get("parent_name") or "").strip()
        try:
            value = parse_value(cells.get("value"))
        except ValueError:
            errors.append({"row": number, "error": f"value {cells.get('value')!r} is not a number"})
            continue
        if value < 0 and value_type in NON_NEGATIVE:
            errors.append({"row": number, "error": f"negative value {value} for a {value_type}"})
            continue
        unit, candidates, reason = index.find(code, name, parent)
        if candidates:
            ambiguous.append({"row": number, "unit_name": name, "parent_name": parent or None, "candidates": [
                {"code": c.code, "name": c.full_name_vi or c.name_vi, "parent": c.parent_full_name or c.parent_name}
                for c in candidates]})  # fmt: skip
            continue
        if unit is None:
            unmatched.append({"row": number, "unit_code": code or None, "unit_name": name or None,
                              "reason": reason})  # fmt: skip
            continue
        if unit.code in first_row:
            errors.append(
                {"row": number, "error": f"unit {unit.code} is duplicated (also row {first_row[unit.code]})"}
            )
            continue
        first_row[unit.code] = number
        plan.rows.append({"row": number, "unit_code": unit.code, "boundary_version": unit.boundary_version,
                          "level": unit.level, "value": value})  # fmt: skip
    plan.report = {
        "rows": len(rows), "matched": len(plan.rows), "unmatched": unmatched, "ambiguous": ambiguous,
        "errors": errors,
    }  # fmt: skip
    if errors:
        first = errors[0]
        raise ObservationsInvalid(f"{len(errors)} invalid rows (first: row {first['row']}, {first['error']}); "
                                  "nothing was written", errors=errors, report=plan.report)  # fmt: skip
    if (unmatched or ambiguous) and not allow_partial:
        raise ObservationsInvalid(
            f"{len(unmatched)} rows unmatched and {len(ambiguous)} ambiguous; nothing was written "
            "(fix them, or allow a partial import)", errors=[*unmatched, *ambiguous], report=plan.report)  # fmt: skip
    if not plan.rows:
        raise ObservationsInvalid("no row matched a unit; nothing was written", errors=[], report=plan.report)
    return plan


def report_of(plan: ImportPlan, **about: Any) -> dict[str, Any]:
    """The report an import returns: the match report plus what it was about."""
    versions = sorted({r["boundary_version"] for r in plan.rows})
    return {**plan.report, **about, "boundary_version": versions[0] if versions else None,
            "written": {"inserted": 0, "updated": 0}}  # fmt: skip


def observation_rows(
    plan: ImportPlan, indicator: str, period: str, bounds: tuple[date, date], source: str, run: int
) -> list[tuple[Any, ...]]:
    """The plan's rows as observation tuples (in the staging table's column order)."""
    return [(indicator, r["boundary_version"], r["level"], r["unit_code"], period, bounds[0], bounds[1],
             r["value"], source, False, run) for r in plan.rows]  # fmt: skip
