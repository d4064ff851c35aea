"""Values of an indicator for any unit and period, whatever boundaries they were recorded on.

Pure Python over data loaded beforehand (:class:`Dataset`), so the rules are unit-testable. For a
unit and a period, in order:

1. ``direct``: an observation of the unit itself;
2. ``rollup``: the unit's children (same boundaries), when every child has a value: counts add up,
   means are weighted by the indicator's weight (e.g. population);
3. ``crosswalk``: the units of the other boundary version that overlap it, when every one has a
   value (direct or rollup): counts are split by share, means are weighted by share x weight;
4. ratios (``ratio``) are recomputed from their converted parts, never converted themselves; a
   denominator missing for the period falls back to its latest earlier period (census population
   for a 2024 rate), and the method says so; ``geometry`` indicators are the unit's own area.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gis_platform.stats.periods import sort_key

Key = tuple[str, str, str]  # (boundary_version, level, code)


@dataclass(frozen=True)
class Rule:
    """How an indicator is computed and rolls up."""

    code: str
    aggregation: str
    kind: str = "observed"
    weight_indicator: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    scale: float = 1.0


@dataclass(frozen=True)
class Value:
    """A value with how it was obtained."""

    value: float
    method: str
    synthetic: bool
    note: str | None = None


@dataclass
class Dataset:
    """Everything a resolution may read, keyed for constant-time lookups."""

    rules: dict[str, Rule]
    obs: dict[tuple[str, Key, str], tuple[float, bool]] = field(default_factory=dict)
    periods: dict[str, list[str]] = field(default_factory=dict)
    children: dict[Key, list[Key]] = field(default_factory=dict)
    area: dict[Key, float] = field(default_factory=dict)
    sources: dict[Key, list[tuple[Key, float]]] = field(default_factory=dict)

    def add_observations(self, rows: Iterable[Mapping[str, object]]) -> None:
        """Add observation rows (indicator_code, boundary_version, level, unit_code, period, value, synthetic)."""
        seen: dict[str, set[str]] = {}
        for r in rows:
            key = (str(r["boundary_version"]), str(r["level"]), str(r["unit_code"]))
            ind, period = str(r["indicator_code"]), str(r["period"])
            self.obs[(ind, key, period)] = (float(str(r["value"])), bool(r["synthetic"]))
            seen.setdefault(ind, set()).add(period)
        for ind, periods in seen.items():
            self.periods[ind] = sorted(set(self.periods.get(ind, [])) | periods, key=sort_key)

    def add_children(self, rows: Iterable[tuple[Key, Key]]) -> None:
        """Add (child, parent) links."""
        for child, parent in rows:
            self.children.setdefault(parent, []).append(child)

    def add_crosswalk(self, rows: Iterable[Mapping[str, object]]) -> None:
        """Add crosswalk rows (from_version, to_version, old_code, new_code, share_old, share_new)."""
        for r in rows:
            old: Key = (str(r["from_version"]), "ward", str(r["old_code"]))
            new: Key = (str(r["to_version"]), "ward", str(r["new_code"]))
            self.sources.setdefault(new, []).append((old, float(str(r["share_old"]))))
            self.sources.setdefault(old, []).append((new, float(str(r["share_new"]))))


class Resolver:
    """Resolve values over one :class:`Dataset` (memoised; build one per request)."""

    def __init__(self, data: Dataset) -> None:
        self.data = data
        self._memo: dict[tuple[str, Key, str, bool], Value | None] = {}

    def value(self, indicator: str, key: Key, period: str) -> Value | None:
        """The value of ``indicator`` for the unit ``key`` in ``period`` (None when unknown)."""
        rule = self.data.rules[indicator]
        if rule.aggregation == "ratio":
            return self._ratio(rule, key, period)
        if rule.kind == "geometry":
            area = self.data.area.get(key)
            return Value(area, "geometry", False) if area is not None else None
        return self._local(rule, key, period, True) or self._crosswalk(rule, key, period)

    def periods(self, indicator: str) -> list[str]:
        """Periods with observations of ``indicator`` (of its numerator, for a ratio), oldest first."""
        rule = self.data.rules[indicator]
        if rule.aggregation == "ratio" and rule.numerator:
            return self.periods(rule.numerator)
        return list(self.data.periods.get(indicator, []))

    def _local(self, rule: Rule, key: Key, period: str, top: bool) -> Value | None:
        memo = (rule.code, key, period, top)
        if memo in self._memo:
            return self._memo[memo]
        found = self.data.obs.get((rule.code, key, period))
        result: Value | None = None
        if found is not None:
            result = Value(found[0], "direct", found[1])
        else:
            kids = self.data.children.get(key, [])
            # a child may itself be converted (a new ward under the new city); a crosswalk's sources
            # never are (see _crosswalk), so this cannot loop between the versions
            parts = [self._local(rule, k, period, False) or self._crosswalk(rule, k, period) for k in kids]
            if kids and all(p is not None for p in parts):
                weights = [self._weight(rule, k, period) for k in kids]
                result = self._combine(rule, [p for p in parts if p is not None], weights, [1.0] * len(kids),
                                       "rollup")  # fmt: skip
        self._memo[memo] = result
        return result

    def _crosswalk(self, rule: Rule, key: Key, period: str) -> Value | None:
        sources = self.data.sources.get(key, [])
        if not sources:
            return None
        parts = [self._local(rule, s, period, False) for s, _ in sources]
        if not all(p is not None for p in parts):
            return None
        weights = [self._weight(rule, s, period) for s, _ in sources]
        shares = [share for _, share in sources]
        return self._combine(rule, [p for p in parts if p is not None], weights, shares, "crosswalk")

    def _combine(
        self, rule: Rule, parts: list[Value], weights: list[float], shares: list[float], method: str
    ) -> Value:
        synthetic = any(p.synthetic for p in parts)
        if rule.aggregation == "sum":
            return Value(sum(p.value * s for p, s in zip(parts, shares, strict=True)), method, synthetic)
        w = [wi * s for wi, s in zip(weights, shares, strict=True)]
        total = sum(w)
        if total <= 0:
            w, total = list(shares), sum(shares) or 1.0
        value = sum(p.value * wi for p, wi in zip(parts, w, strict=True)) / total
        return Value(value, method, synthetic)

    def _weight(self, rule: Rule, key: Key, period: str) -> float:
        if not rule.weight_indicator:
            return 1.0
        found = self._at_or_before(rule.weight_indicator, key, period)
        return found[0].value if found else 1.0

    def _at_or_before(self, indicator: str, key: Key, period: str) -> tuple[Value, str] | None:
        """The value in ``period``, else in the latest earlier period, else in the latest one."""
        direct = self.value(indicator, key, period)
        if direct is not None:
            return direct, period
        periods = self.periods(indicator)
        earlier = [p for p in periods if sort_key(p) <= sort_key(period)]
        for candidate in reversed(earlier or periods):
            found = self.value(indicator, key, candidate)
            if found is not None:
                return found, candidate
        return None

    def _ratio(self, rule: Rule, key: Key, period: str) -> Value | None:
        assert rule.numerator and rule.denominator  # noqa: S101 - guaranteed by the table's CHECK
        num = self.value(rule.numerator, key, period)
        if num is None:
            return None
        den = self._at_or_before(rule.denominator, key, period)
        if den is None or den[0].value == 0:
            return None
        note = None if den[1] == period or den[0].method == "geometry" else f"{rule.denominator} of {den[1]}"
        method = f"ratio ({num.method} / {den[0].method})"
        return Value(num.value / den[0].value * rule.scale, method, num.synthetic or den[0].synthetic, note)


def summarise(methods: Iterable[str]) -> tuple[str, dict[str, int]]:
    """The overall method of a set of values (``mixed`` when they differ) and the count per method."""
    counts: dict[str, int] = {}
    for m in methods:
        counts[m] = counts.get(m, 0) + 1
    if not counts:
        return "none", counts
    return (next(iter(counts)) if len(counts) == 1 else "mixed"), dict(sorted(counts.items()))
