"""Statistics for the API: the registry, values on any day's boundaries, profiles and choropleths."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import asyncpg
import orjson

from gis_platform.audit import service as audit
from gis_platform.errors import InvalidParameter, NotFound
from gis_platform.stats import queries
from gis_platform.stats.aggregates.figures import top_layers
from gis_platform.stats.choropleth import Scheme, classify
from gis_platform.stats.models import (
    Choropleth,
    IndicatorList,
    IndicatorOut,
    IndicatorSeries,
    LegendEntry,
    ProfileUnit,
    SeriesPoint,
    UnitProfile,
    UnitValue,
    ValuesResponse,
)
from gis_platform.stats.observations import (
    Candidate,
    UnitIndex,
    check_request,
    observation_rows,
    plan_import,
    read_table,
    report_of,
)
from gis_platform.stats.periods import is_period, sort_key
from gis_platform.stats.resolve import Dataset, Key, Resolver, Rule, summarise

LEVELS = ("city", "district", "ward", "neighbourhood", "residential_group")

METHOD_TEXT = {
    "direct": "observed on these boundaries",
    "rollup": "summed (or weighted) from the units below",
    "crosswalk": "converted from the other boundary version through the crosswalk: counts split by "
    "share (area of the approximate polygons; population-weighted towards the old wards), means "
    "weighted by share x weight",
    "geometry": "computed from the polygons",
    "ratio": "ratio recomputed from its converted parts",
}


def _rule(r: asyncpg.Record) -> Rule:
    return Rule(r["code"], r["aggregation"], r["kind"], r["weight_indicator"], r["numerator"],
                r["denominator"], float(r["scale"]))  # fmt: skip


async def _rules(conn: asyncpg.Connection) -> tuple[dict[str, Rule], list[asyncpg.Record]]:
    rows = await queries.fetch_indicators(conn)
    return {r["code"]: _rule(r) for r in rows}, rows


def _needed(rules: dict[str, Rule], code: str) -> set[str]:
    """The indicator and everything it is computed from (parts and weights)."""
    out, todo = set(), [code]
    while todo:
        c = todo.pop()
        if c in out or c not in rules:
            continue
        out.add(c)
        r = rules[c]
        todo.extend(x for x in (r.numerator, r.denominator, r.weight_indicator) if x)
    return out


async def list_indicators(conn: asyncpg.Connection) -> IndicatorList:
    """The whole registry."""
    rows = await queries.fetch_indicators(conn)
    return IndicatorList(indicators=[IndicatorOut.model_validate(dict(r)) for r in rows])


def _method_detail(methods: Iterable[str]) -> str:
    parts = sorted({m.split(" ")[0] for m in methods} | {w.strip("()") for m in methods for w in
                   m.replace("/", " ").split()[1:]})  # fmt: skip
    return "; ".join(f"{p}: {METHOD_TEXT[p]}" for p in parts if p in METHOD_TEXT)


async def _period(conn: asyncpg.Connection, rules: dict[str, Rule], code: str, period: str | None) -> str:
    main = rules[code].numerator if rules[code].aggregation == "ratio" else code
    if rules[main or code].kind == "geometry":
        return period or str(date.today().year)
    known = await queries.fetch_periods_of(conn, main or code)
    if period is None:
        if not known:
            raise NotFound(f"Indicator {code!r} has no observations yet.", parameter="indicator")
        return max(known, key=sort_key)
    if not is_period(period):
        raise InvalidParameter("period", f"{period!r} is not a period: use YYYY, YYYY-Qn or YYYY-MM")
    if period not in known:
        raise NotFound(f"Indicator {code!r} has no observations for {period}; it has {', '.join(sorted(known, key=sort_key))}.",
                       parameter="period")  # fmt: skip
    return period


async def compute_values(
    conn: asyncpg.Connection, indicator: str, level: str, at: date, period: str | None
) -> ValuesResponse:
    """Values of ``indicator`` for every unit of ``level`` valid on ``at``."""
    rules, _ = await _rules(conn)
    if indicator not in rules:
        raise NotFound(f"No indicator {indicator!r}.", parameter="indicator")
    if level not in LEVELS:
        raise InvalidParameter("level", f"level must be one of {', '.join(LEVELS)}")
    chosen = await _period(conn, rules, indicator, period)
    targets = await queries.fetch_units_at(conn, level, at)
    if not targets:
        raise NotFound(f"No {level} units are valid on {at.isoformat()}.", parameter="at")
    data = Dataset(rules)
    needed = _needed(rules, indicator)
    main = {c for c in needed if c == indicator or c == rules[indicator].numerator}
    observed = [c for c in needed if rules[c].kind == "observed" and rules[c].aggregation != "ratio"]
    data.add_observations(
        await queries.fetch_observations(conn, [c for c in observed if c in main], [chosen])
    )
    data.add_observations(
        await queries.fetch_observations(conn, [c for c in observed if c not in main], None)
    )
    await _links(conn, data, level)
    for t in targets:
        if t["area_km2"] is not None:
            data.area[(t["boundary_version"], t["level"], t["code"])] = float(t["area_km2"])
    resolver = Resolver(data)
    values: list[UnitValue] = []
    missing: list[str] = []
    for t in targets:
        found = resolver.value(indicator, (t["boundary_version"], t["level"], t["code"]), chosen)
        if found is None:
            missing.append(t["code"])
            continue
        values.append(UnitValue(unit_code=t["code"], name=t["name_vi"], value=round(found.value, 6),
                                method=found.method, synthetic=found.synthetic, note=found.note))  # fmt: skip
    method, counts = summarise(v.method for v in values)
    return ValuesResponse(
        indicator=indicator, level=level, at=at, period=chosen,
        boundary_versions=sorted({t["boundary_version"] for t in targets}), method=method, methods=counts,
        method_detail=_method_detail(counts), synthetic=any(v.synthetic for v in values), values=values,
        missing=missing,
    )  # fmt: skip


async def _links(conn: asyncpg.Connection, data: Dataset, level: str) -> None:
    """Load what rollups and the crosswalk need below and beside ``level``."""
    observed_levels = {key[1] for (_, key, _) in data.obs}
    below = LEVELS[LEVELS.index(level) + 1 :]
    deepest = max((below.index(lv) for lv in observed_levels if lv in below), default=-1)
    if deepest >= 0:
        rows = await queries.fetch_children(conn, list(below[: deepest + 1]))
        data.add_children(((r["boundary_version"], r["level"], r["code"]), (r["p_version"], r["p_level"], r["p_code"]))
                          for r in rows)  # fmt: skip
    if level == "ward" or deepest >= 0:
        data.add_crosswalk(await queries.fetch_crosswalk(conn))


async def choropleth(
    conn: asyncpg.Connection, indicator: str, level: str, at: date, period: str | None, scheme: Scheme, k: int
) -> Choropleth:
    """Class breaks, colours and legend of ``indicator`` on the boundaries of ``at``."""
    values = await compute_values(conn, indicator, level, at, period)
    if not values.values:
        raise NotFound(f"No values of {indicator!r} on {at.isoformat()}.", parameter="indicator")
    classes = classify([v.value for v in values.values], scheme, k)
    lowers = [classes.lower, *classes.breaks[:-1]]
    legend = [
        LegendEntry(lower=lo, upper=hi, color=c, count=n, label=f"{lo:,.4g} - {hi:,.4g}")
        for lo, hi, c, n in zip(lowers, classes.breaks, classes.colors, classes.counts, strict=True)
    ]
    return Choropleth(
        indicator=indicator, level=level, at=at, period=values.period, scheme=scheme.value,
        k=len(classes.breaks), breaks=classes.breaks, colors=classes.colors, legend=legend,
        classes={v.unit_code: c for v, c in zip(values.values, classes.assignment, strict=True)},
        method=values.method, synthetic=values.synthetic,
    )  # fmt: skip


async def profile(
    conn: asyncpg.Connection, code: str, at: date, level: str | None, *, internal: bool = False
) -> UnitProfile:
    """Every indicator's time series for the unit ``code`` valid on ``at``."""
    unit = await queries.fetch_unit_at(conn, code, at, level)
    if unit is None:
        raise NotFound(f"No unit with code {code!r} is valid on {at.isoformat()}.", parameter="code")
    rules, rows = await _rules(conn)
    key: Key = (unit["boundary_version"], unit["level"], unit["code"])
    data = Dataset(rules)
    if unit["level"] == "ward":
        data.add_crosswalk(
            await queries.fetch_crosswalk_of_unit(conn, unit["boundary_version"], unit["code"])
        )
    roots = [key, *(s for s, _ in data.sources.get(key, []))]
    tree = await queries.fetch_descendants(conn, roots)
    data.add_children(((r["boundary_version"], r["level"], r["code"]), (r["p_version"], r["p_level"], r["p_code"]))
                      for r in tree if r["p_code"] is not None)  # fmt: skip
    data.area[key] = float(unit["area_km2"]) if unit["area_km2"] is not None else 0.0
    keys = [(r["boundary_version"], r["level"], r["code"]) for r in tree]
    data.add_observations(await queries.fetch_observations_of_units(conn, keys))
    for r in await queries.fetch_periods(conn):  # periods observed anywhere, for weights and denominators
        data.periods.setdefault(r["indicator_code"], [])
        if r["period"] not in data.periods[r["indicator_code"]]:
            data.periods[r["indicator_code"]].append(r["period"])
    for ps in data.periods.values():
        ps.sort(key=sort_key)
    resolver = Resolver(data)
    series: list[IndicatorSeries] = []
    for r in rows:
        points = []
        for p in resolver.periods(r["code"]) if r["kind"] != "geometry" else [str(at.year)]:
            v = resolver.value(r["code"], key, p)
            if v is not None:
                points.append(SeriesPoint(period=p, value=round(v.value, 6), method=v.method,
                                          synthetic=v.synthetic, note=v.note))  # fmt: skip
        series.append(IndicatorSeries(code=r["code"], name_vi=r["name_vi"], name_en=r["name_en"], unit=r["unit"],
                                      category=r["category"], synthetic=r["synthetic"], series=points))  # fmt: skip
    people = next((s.series[-1].value for s in series if s.code == "population" and s.series), None)
    layers = await top_layers(conn, key, unit["area_km2"], people, internal=internal)
    return UnitProfile(
        at=at, unit=ProfileUnit.model_validate({**dict(unit)}), indicators=series, layers=layers
    )


async def import_observations(
    conn: asyncpg.Connection,
    data: bytes,
    filename: str,
    *,
    indicator: str,
    period: str,
    level: str,
    at: date | None,
    allow_partial: bool,
    dry_run: bool,
    author: str,
) -> dict[str, Any]:
    """Import observations (the API's twin of the CLI's import): all rows in one transaction, or none."""
    start, end, value_type = check_request(
        indicator, await queries.fetch_indicator(conn, indicator), period, level
    )
    day = at or await queries.fetch_nearest_validity(conn, level, end)
    units = await queries.fetch_match_candidates(conn, level, day) if day else []
    if day is None or not units:
        raise NotFound(f"No {level} units are valid on {(at or end).isoformat()}.", parameter="at")
    columns, rows = read_table(data, filename)
    index = UnitIndex(Candidate(**dict(r)) for r in units)
    plan = plan_import(columns, rows, index, value_type=value_type, allow_partial=allow_partial)
    report = report_of(
        plan, indicator=indicator, period=period, level=level, at=day.isoformat(), dry_run=dry_run
    )
    if dry_run:
        return report
    source = f"API upload {filename} by {author}"
    async with conn.transaction():
        run = await queries.insert_run_async(conn, ("api", indicator, period, source, author, report["rows"],
                                                    len(plan.rows), orjson.dumps(report).decode()))  # fmt: skip
        values = observation_rows(plan, indicator, period, (start, end), source, run)
        report["written"] = await queries.upsert_observations_async(conn, values)
        report["import_run"] = run
        await audit.record_async(
            conn, actor=author, action="observations.import", target_kind="indicator", target=indicator,
            details={"period": period, "level": level, "rows": report["rows"], "written": report["written"],
                     "import_run": run, "file": filename},
        )  # fmt: skip
    return report
