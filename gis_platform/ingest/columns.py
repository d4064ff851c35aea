"""Attribute names and types: from whatever a file says to safe SQL identifiers."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pyarrow as pa

from gis_platform.ingest.types import Column
from gis_platform.text import fold

# PostgreSQL's reserved and type-function keywords (pg_get_keywords() catcode R and T): a column named
# like one of these works only quoted, so sanitised names avoid them.
SQL_KEYWORDS = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate
    collation column concurrently constraint create cross current_catalog current_date current_role
    current_schema current_time current_timestamp current_user default deferrable desc distinct do else end
    except false fetch for foreign freeze from full grant group having ilike in initially inner intersect into
    is isnull join lateral leading left like limit localtime localtimestamp natural not notnull null offset on
    only or order outer overlaps placing primary references returning right select session_user similar some
    symmetric table tablesample then to trailing true union unique user using variadic verbose when where
    window with""".split()
)
#: Names the platform's own columns take.
RESERVED = frozenset({"fid", "geom", "geom_3857", "ctid", "oid", "xmin", "xmax", "cmin", "cmax", "tableoid"})
MAX_IDENTIFIER = 63


def sanitise(name: str) -> str:
    """Turn any attribute name into a lower-case ASCII identifier that needs no quoting."""
    base = re.sub(r"[^a-z0-9_]+", "_", fold(name)).strip("_")
    base = re.sub(r"_+", "_", base) or "field"
    if base[0].isdigit():
        base = f"c_{base}"
    base = base[: MAX_IDENTIFIER - 4]
    if base in SQL_KEYWORDS or base in RESERVED:
        base = f"{base}_"
    return base


def sanitise_all(names: Iterable[str]) -> list[tuple[str, str]]:
    """Sanitise names and make them unique: ``[(safe, original), …]`` in input order."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for original in names:
        safe = sanitise(original)
        candidate, n = safe, 2
        while candidate in seen:
            candidate = f"{safe[: MAX_IDENTIFIER - 6]}_{n}"
            n += 1
        seen.add(candidate)
        out.append((candidate, original))
    return out


def arrow_type_name(dtype: pa.DataType) -> str:
    """Map an Arrow type to one of the platform's attribute types."""
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "double"
    if pa.types.is_date(dtype):
        return "date"
    if pa.types.is_timestamp(dtype):
        return "datetime"
    return "text"


def columns_for(schema: pa.Schema) -> list[Column]:
    """Columns for an Arrow schema of attributes (no geometry)."""
    pairs = sanitise_all(schema.names)
    return [
        Column(safe, original, arrow_type_name(fld.type))
        for (safe, original), fld in zip(pairs, schema, strict=True)
    ]
