"""Shares of the crosswalk between boundary versions (old 2025-01-01 wards → new 2025-07-01 wards).

Two shares per (old, new) pair:

- ``share_old``: the part of the old ward's quantity that goes to the new ward (sums to 1 per old
  ward). 1 for whole merges; for partial merges the area of the old ward's approximate polygon
  inside the new ward over its whole area (people spread evenly inside an old ward).
- ``share_new``: the part of the new ward's quantity that comes from the old ward (sums to 1 per
  new ward): the old ward's population times ``share_old`` (census 2019), normalised per new ward;
  by area where a population is missing.

Editors can override ``share_old`` with a CSV (``old_code,new_code,share``); their rows keep the
method ``editor`` and are not overwritten by a later derivation.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from gis_platform.errors import PlatformError
from gis_platform.stats.derive import KM2_PER_DEG2, Pair

SUM_TOLERANCE = 1e-4


class CrosswalkInvalid(PlatformError):
    """A crosswalk CSV that cannot be applied (the problem lists the rows)."""

    type = "crosswalk-invalid"
    title = "Invalid crosswalk shares"
    status = 422


@dataclass
class Share:
    """One pair of the crosswalk with its shares and how they were estimated."""

    old_code: str
    new_code: str
    relation: str
    share_old: float
    share_new: float
    method: str
    method_new: str
    area_km2: float | None = None
    note: str | None = None

    def row(self) -> dict[str, object]:
        """The pair as a dict (for SQL parameters)."""
        return asdict(self)


def estimate_shares(
    pairs: Sequence[Pair], piece_area: Mapping[tuple[str, str], float], population: Mapping[str, float]
) -> list[Share]:
    """Estimate both shares of every pair whose old ward has a derived polygon."""
    by_old: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        by_old[p.old_code].append(p)
    shares: list[Share] = []
    for old in sorted(by_old):
        group = sorted(by_old[old], key=lambda p: p.new_code)
        areas = [piece_area.get((old, p.new_code), 0.0) for p in group]
        total = sum(areas)
        for p, area in zip(group, areas, strict=True):
            if len(group) == 1:
                share, method = 1.0, "whole" if p.is_whole else "single target"
            elif total > 0:
                share, method = area / total, "area of approximate polygons"
            else:
                share, method = 1.0 / len(group), "equal split (no geometry)"
            shares.append(
                Share(p.old_code, p.new_code, p.relation, share, 0.0, method, "", area * KM2_PER_DEG2, p.note)
            )
    return fill_share_new(shares, population)


def fill_share_new(shares: list[Share], population: Mapping[str, float]) -> list[Share]:
    """Set ``share_new`` of every pair from ``share_old`` and the old wards' population (or area)."""
    by_new: dict[str, list[Share]] = defaultdict(list)
    for s in shares:
        by_new[s.new_code].append(s)
    for group in by_new.values():
        with_people = all(population.get(s.old_code, 0) > 0 for s in group)
        if with_people:
            weights = [population[s.old_code] * s.share_old for s in group]
            method = "census 2019 population x share_old"
        else:
            weights = [s.area_km2 or 0.0 for s in group]
            method = "area of approximate polygons"
        total = sum(weights)
        if total <= 0:
            weights, total, method = [1.0] * len(group), float(len(group)), "equal split"
        for s, w in zip(group, weights, strict=True):
            s.share_new, s.method_new = w / total, method
    return shares


def parse_share_csv(data: bytes) -> list[dict[str, object]]:
    """Parse an editor's CSV (``old_code,new_code,share[,note]``); raise with row numbers."""
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = {"old_code", "new_code", "share"} - set(reader.fieldnames or [])
    if missing:
        raise CrosswalkInvalid(f"missing columns: {', '.join(sorted(missing))}", errors=[])
    rows: list[dict[str, object]] = []
    errors: list[dict[str, object]] = []
    for i, r in enumerate(reader, start=2):
        try:
            share = float((r.get("share") or "").strip())
        except ValueError:
            errors.append({"row": i, "error": f"share {r.get('share')!r} is not a number"})
            continue
        if not 0 <= share <= 1:
            errors.append({"row": i, "error": f"share {share} is outside 0..1"})
            continue
        note = (r.get("note") or "").strip() or None
        old, new = (r.get("old_code") or "").strip(), (r.get("new_code") or "").strip()
        rows.append({"row": i, "old_code": old, "new_code": new, "share": share, "note": note})
    if errors:
        raise CrosswalkInvalid(f"{len(errors)} rows are invalid", errors=errors)
    return rows


def apply_edits(current: Iterable[Share], edits: Sequence[dict[str, object]]) -> list[Share]:
    """Return the pairs of the old wards the edits touch, with the editor's ``share_old``.

    Every pair of an edited old ward must be listed and its shares must sum to 1.
    """
    pairs = {(s.old_code, s.new_code): s for s in current}
    per_old: dict[str, set[str]] = defaultdict(set)
    for old, new in pairs:
        per_old[old].add(new)
    errors: list[dict[str, object]] = []
    seen: dict[tuple[str, str], int] = {}
    sums: dict[str, float] = defaultdict(float)
    for e in edits:
        key = (str(e["old_code"]), str(e["new_code"]))
        if key not in pairs:
            errors.append({"row": e["row"], "error": f"{key[0]} → {key[1]} is not in the crosswalk"})
        elif key in seen:
            errors.append({"row": e["row"], "error": f"duplicate of row {seen[key]}"})
        else:
            seen[key] = int(str(e["row"]))
            sums[key[0]] += float(str(e["share"]))
    for old, total in sorted(sums.items()):
        listed = {n for o, n in seen if o == old}
        if listed != per_old[old]:
            lacking = ", ".join(sorted(per_old[old] - listed))
            errors.append({"old_code": old, "error": f"pairs missing for new wards {lacking}"})
        if abs(total - 1) > SUM_TOLERANCE:
            errors.append({"old_code": old, "error": f"shares sum to {total:.6f}, not 1"})
    if errors:
        raise CrosswalkInvalid(f"{len(errors)} problems in the crosswalk file", errors=errors)
    for e in edits:
        s = pairs[(str(e["old_code"]), str(e["new_code"]))]
        s.share_old, s.method = float(str(e["share"])), "editor"
        s.note = str(e["note"]) if e.get("note") else s.note
    return list(pairs.values())
