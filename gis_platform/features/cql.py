"""CQL2 (text and JSON) → a parameterised SQL condition, checked against the collection's queryables.

Parsing is done by the ``cql2`` package (the reference Rust parser) into CQL2-JSON; this module's
visitor then walks that JSON and emits :mod:`psycopg.sql` objects. Property names are looked up in
the collection's fields and emitted through their ``sql.Identifier`` expressions; every literal
becomes a bind parameter. Types are checked here, so a filter that could not run is a 400, not a
database error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
import shapely
import shapely.geometry
from psycopg import sql

from gis_platform.errors import InvalidParameter
from gis_platform.features.binds import Binds, PgType
from gis_platform.features.cql_parse import parse_filter
from gis_platform.features.crs import Crs, in_domain
from gis_platform.features.models import Collection

NUMERIC = frozenset({"integer", "double"})
TEMPORAL = frozenset({"date", "datetime"})
_COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_SPATIAL = {
    "s_intersects": "ST_Intersects", "s_equals": "ST_Equals", "s_disjoint": "ST_Disjoint",
    "s_touches": "ST_Touches", "s_within": "ST_Within", "s_overlaps": "ST_Overlaps",
    "s_crosses": "ST_Crosses", "s_contains": "ST_Contains",
}  # fmt: skip
_ARRAY_TYPES: dict[str, PgType] = {
    "text": "text[]", "integer": "bigint[]", "double": "double precision[]", "boolean": "boolean[]",
    "date": "date[]", "datetime": "timestamptz[]",
}  # fmt: skip


def _bad(detail: str) -> InvalidParameter:
    return InvalidParameter("filter", detail)


__all__ = ["Compiler", "compile_filter", "parse_filter"]


@dataclass(frozen=True)
class Typed:
    """A compiled expression and its type (a field type, ``geometry``, ``null`` or ``list``)."""

    sql: sql.Composable
    type: str


class Compiler:
    """Compiles one CQL2-JSON expression for one collection, binding values into ``binds``."""

    def __init__(self, collection: Collection, binds: Binds, filter_crs: Crs) -> None:
        self.collection = collection
        self.binds = binds
        self.crs = filter_crs
        self._ops: dict[str, Callable[[list[Any]], Typed]] = {
            "and": lambda args: self._combine(args, "AND"), "or": lambda args: self._combine(args, "OR"),
            "not": self._not, "isNull": self._is_null,
            "like": self._like, "between": self._between, "in": self._in,
            "casei": self._casei, "accenti": self._accenti,
        }  # fmt: skip

    def condition(self, node: Any) -> sql.Composable:
        """The SQL condition for a whole filter."""
        result = self.expr(node)
        if result.type != "boolean":
            raise _bad("The filter must be a condition (a comparison or predicate), not a value.")
        return result.sql

    def expr(self, node: Any) -> Typed:
        """Compile any CQL2-JSON node."""
        if node is None:
            return Typed(sql.SQL("NULL"), "null")
        if isinstance(node, bool):
            return Typed(sql.SQL("TRUE" if node else "FALSE"), "boolean")
        if isinstance(node, int | float):
            return self._number(node)
        if isinstance(node, str):
            return Typed(self.binds.add(node, "text"), "text")
        if isinstance(node, list):
            raise _bad("A list is only allowed as the right side of IN.")
        if not isinstance(node, dict):
            raise _bad(f"Unsupported filter element {node!r:.80}.")
        if "property" in node:
            return self._property(node["property"])
        if "date" in node:
            return Typed(self.binds.add(_date(node["date"]), "date"), "date")
        if "timestamp" in node:
            return Typed(self.binds.add(_timestamp(node["timestamp"]), "timestamptz"), "datetime")
        if "interval" in node:
            raise _bad("Intervals and temporal functions (T_*) are not supported; compare dates instead.")
        if "bbox" in node:
            return self._geometry(_bbox_shape(node["bbox"]))
        if "type" in node and ("coordinates" in node or "geometries" in node):
            return self._geometry(_shape(node))
        if "op" in node:
            return self._op(str(node["op"]), node.get("args") or [])
        raise _bad(f"Unsupported filter element {orjson.dumps(node).decode()[:80]}.")

    def _number(self, value: float) -> Typed:
        if isinstance(value, float) and not math.isfinite(value):
            raise _bad("Numbers in a filter must be finite.")
        if float(value).is_integer() and abs(value) < 2**53:
            return Typed(self.binds.add(int(value), "bigint"), "integer")
        return Typed(self.binds.add(float(value), "double precision"), "double")

    def _property(self, name: Any) -> Typed:
        if name == "geom":
            return Typed(sql.SQL("t.geom"), "geometry")
        if name == "fid":
            return Typed(sql.SQL("t.fid"), "integer")
        found = self.collection.field(str(name))
        if found is None:
            raise _bad(
                f"{str(name)[:80]!r} is not a queryable of {self.collection.slug!r}; "
                f"see /collections/{self.collection.slug}/queryables."
            )
        return Typed(found.expr, found.type)

    def _geometry(self, geom: Any) -> Typed:
        if self.crs.lat_first:
            geom = shapely.transform(geom, lambda c: c[:, ::-1])
        if not geom.is_empty and not in_domain(self.crs, *geom.bounds):
            raise _bad(f"A geometry in the filter lies outside the domain of {self.crs.uri}.")
        wkb = shapely.to_wkb(geom)
        value = sql.SQL("ST_GeomFromWKB({}, {})").format(
            self.binds.add(wkb, "bytea"), sql.Literal(self.crs.srid)
        )
        if self.crs.srid != 4326:
            value = sql.SQL("ST_Transform({}, 4326)").format(value)
        return Typed(value, "geometry")

    def _op(self, op: str, args: list[Any]) -> Typed:
        if not isinstance(args, list):
            raise _bad(f"The arguments of {op!r} must be a list.")
        lowered = op.lower()
        if lowered in _COMPARISONS:
            return self._compare(_COMPARISONS[lowered], args)
        if lowered in _SPATIAL:
            return self._spatial(_SPATIAL[lowered], args)
        if lowered in {"+", "-", "*", "/", "%", "div", "^"}:
            return self._arithmetic(lowered, args)
        handler = self._ops.get(op) or self._ops.get(lowered)
        if handler is not None:
            return handler(args)
        if lowered.startswith(("t_", "a_")):
            raise _bad(f"{op.upper()} is not supported (temporal and array functions are not implemented).")
        raise _bad(f"Unknown function or operator {op[:60]!r}.")

    def _args(self, args: list[Any], count: int, op: str) -> list[Typed]:
        if len(args) != count:
            raise _bad(f"{op} takes {count} arguments, got {len(args)}.")
        return [self.expr(a) for a in args]

    def _combine(self, args: list[Any], keyword: str) -> Typed:
        parts = [self.expr(a) for a in args]
        if len(parts) < 2 or any(p.type != "boolean" for p in parts):
            raise _bad(f"{keyword} combines two or more conditions.")
        joiner = sql.SQL(" AND ") if keyword == "AND" else sql.SQL(" OR ")
        return Typed(sql.SQL("({})").format(joiner.join(p.sql for p in parts)), "boolean")

    def _not(self, args: list[Any]) -> Typed:
        (inner,) = self._args(args, 1, "NOT")
        if inner.type != "boolean":
            raise _bad("NOT applies to a condition.")
        return Typed(sql.SQL("(NOT {})").format(inner.sql), "boolean")

    def _is_null(self, args: list[Any]) -> Typed:
        (inner,) = self._args(args, 1, "IS NULL")
        return Typed(sql.SQL("({} IS NULL)").format(inner.sql), "boolean")

    def _compare(self, operator: str, args: list[Any]) -> Typed:
        left, right = self._args(args, 2, operator)
        _comparable(left, right, operator)
        return Typed(sql.SQL("({} {} {})").format(left.sql, sql.SQL(operator), right.sql), "boolean")

    def _like(self, args: list[Any]) -> Typed:
        value, pattern = self._args(args, 2, "LIKE")
        if value.type not in ("text", "null") or pattern.type not in ("text", "null"):
            raise _bad("LIKE compares text with a text pattern.")
        return Typed(sql.SQL("({} LIKE {})").format(value.sql, pattern.sql), "boolean")

    def _between(self, args: list[Any]) -> Typed:
        value, low, high = self._args(args, 3, "BETWEEN")
        _comparable(value, low, "BETWEEN")
        _comparable(value, high, "BETWEEN")
        return Typed(sql.SQL("({} BETWEEN {} AND {})").format(value.sql, low.sql, high.sql), "boolean")

    def _in(self, args: list[Any]) -> Typed:
        if len(args) != 2 or not isinstance(args[1], list) or not args[1]:
            raise _bad("IN takes a value and a non-empty list.")
        value = self.expr(args[0])
        items = args[1]
        literal = all(isinstance(i, str | int | float) and not isinstance(i, bool) for i in items) or all(
            isinstance(i, bool) for i in items
        )
        if literal and value.type in _ARRAY_TYPES:
            return self._in_array(value, items)
        options = [self.expr(i) for i in items]
        for option in options:
            _comparable(value, option, "IN")
        joined = sql.SQL(", ").join(o.sql for o in options)
        return Typed(sql.SQL("({} IN ({}))").format(value.sql, joined), "boolean")

    def _in_array(self, value: Typed, items: list[Any]) -> Typed:
        kind = value.type
        if kind in NUMERIC:
            if not all(isinstance(i, int | float) and not isinstance(i, bool) for i in items):
                raise _bad("IN compares a number with numbers.")
            if any(not math.isfinite(i) for i in items):
                raise _bad("Numbers in a filter must be finite.")
            integral = all(float(i).is_integer() and abs(i) < 2**53 for i in items)
            kind = "integer" if integral else "double"
            items = [int(i) if integral else float(i) for i in items]
        elif kind in ("text",) and not all(isinstance(i, str) for i in items):
            raise _bad("IN compares text with text.")
        elif kind == "boolean" and not all(isinstance(i, bool) for i in items):
            raise _bad("IN compares a boolean with booleans.")
        elif kind in TEMPORAL:
            raise _bad("IN on dates takes DATE(...) or TIMESTAMP(...) values.")
        bound = self.binds.add(items, _ARRAY_TYPES[kind])
        return Typed(sql.SQL("({} = ANY({}))").format(value.sql, bound), "boolean")

    def _casei(self, args: list[Any]) -> Typed:
        (inner,) = self._args(args, 1, "CASEI")
        if inner.type not in ("text", "null"):
            raise _bad("CASEI applies to text.")
        return Typed(sql.SQL("lower({})").format(inner.sql), "text")

    def _accenti(self, args: list[Any]) -> Typed:
        (inner,) = self._args(args, 1, "ACCENTI")
        if inner.type not in ("text", "null"):
            raise _bad("ACCENTI applies to text.")
        return Typed(
            sql.SQL("public.unaccent('public.unaccent'::regdictionary, {})").format(inner.sql), "text"
        )

    def _spatial(self, function: str, args: list[Any]) -> Typed:
        left, right = self._args(args, 2, function)
        if left.type != "geometry" or right.type != "geometry":
            raise _bad(f"{function} compares geometries: the property 'geom' or a geometry literal.")
        return Typed(sql.SQL("{}({}, {})").format(sql.SQL(function), left.sql, right.sql), "boolean")

    def _arithmetic(self, op: str, args: list[Any]) -> Typed:
        left, right = self._args(args, 2, op)
        if left.type not in NUMERIC or right.type not in NUMERIC:
            raise _bad(f"Arithmetic ({op}) needs numbers on both sides.")
        a, b = left.sql, right.sql
        if op in ("+", "-", "*"):
            # in double precision: an integer overflow would be a database error mid-response
            expr = sql.SQL("({}::double precision {} {}::double precision)").format(a, sql.SQL(op), b)
            return Typed(expr, "double")
        if op == "/":
            expr = sql.SQL("({}::double precision / NULLIF({}::double precision, 0))").format(a, b)
            return Typed(expr, "double")
        if op == "%":
            expr = sql.SQL("mod({}::numeric, NULLIF({}::numeric, 0))").format(a, b)
            return Typed(sql.SQL("({})::double precision").format(expr), "double")
        if op == "div":
            expr = sql.SQL("div({}::numeric, NULLIF({}::numeric, 0))::double precision").format(a, b)
            return Typed(expr, "double")
        expr = sql.SQL("power({}::numeric, {}::numeric)::double precision").format(a, b)
        return Typed(expr, "double")


def _comparable(left: Typed, right: Typed, operator: str) -> None:
    kinds = {left.type, right.type} - {"null"}
    if "geometry" in kinds:
        raise _bad(f"Geometries are compared with spatial functions (S_INTERSECTS …), not {operator}.")
    if len(kinds) <= 1 or kinds <= NUMERIC or kinds <= TEMPORAL:
        return
    raise _bad(f"Cannot compare {left.type} with {right.type} ({operator}).")


def _date(value: Any) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _bad(f"Invalid DATE {str(value)[:40]!r}; use YYYY-MM-DD.") from None


def _timestamp(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise _bad(f"Invalid TIMESTAMP {str(value)[:40]!r}; use RFC 3339 (2024-05-01T08:00:00Z).") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _shape(node: dict[str, Any]) -> Any:
    try:
        geom = shapely.geometry.shape(node)
    except Exception:
        raise _bad("Invalid geometry literal in the filter.") from None
    geom = shapely.force_2d(geom)
    coords = shapely.get_coordinates(geom)
    if not all(math.isfinite(v) for v in coords.ravel()):
        raise _bad("Geometry coordinates must be finite numbers.")
    if not geom.is_valid:
        raise _bad(f"Invalid geometry in the filter: {shapely.is_valid_reason(geom)}.")
    return geom


def _bbox_shape(values: Any) -> Any:
    if (
        not isinstance(values, list)
        or len(values) not in (4, 6)
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
        )
    ):
        raise _bad("BBOX takes 4 or 6 finite numbers.")
    minx, miny, maxx, maxy = values[:2] + values[-3:-1] if len(values) == 6 else values
    if minx > maxx or miny > maxy:
        raise _bad("BBOX minimums must not exceed maximums.")
    return shapely.box(minx, miny, maxx, maxy)


def compile_filter(collection: Collection, node: Any, binds: Binds, filter_crs: Crs) -> sql.Composable:
    """The SQL condition of a parsed filter, with its values appended to ``binds``."""
    return Compiler(collection, binds, filter_crs).condition(node)
