"""Query parameters of the items endpoints → a validated :class:`ItemsQuery` (or a 400 problem).

OGC API - Features asks for 400 on an unknown parameter or an invalid value, so parameters are
parsed here rather than by FastAPI (whose errors are 422); the OpenAPI document still lists them
(see :mod:`gis_platform.features.openapi`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg import sql

from gis_platform.errors import InvalidParameter, NotFound
from gis_platform.features.cql import parse_filter
from gis_platform.features.crs import in_domain, parse_crs
from gis_platform.features.models import BBox, Collection, Field, ItemsQuery, SortKey, TimeFilter

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
MAX_OFFSET = 1_000_000_000
FILTER_LANGS = ("cql2-text", "cql2-json")
#: Parameters of the items endpoint; a property with one of these names is queryable through ``filter`` only.
ITEMS_PARAMETERS = frozenset(
    {"f", "limit", "offset", "bbox", "bbox-crs", "datetime", "filter", "filter-lang", "filter-crs",
     "properties", "sortby", "crs"}
)  # fmt: skip
FID_FIELD = Field("fid", "integer", "Feature id", sql.SQL("t.fid"))
_INTEGER = re.compile(r"^\+?[0-9]{1,12}$")


def reject_unknown(params: Sequence[tuple[str, str]], allowed: frozenset[str] | set[str]) -> None:
    """Raise 400 for a parameter the endpoint does not define (OGC API - Features /req/core/query-param-unknown)."""
    for name, value in params:
        if "\x00" in value:
            raise InvalidParameter(name[:100], f"{name[:100]!r} contains a NUL character.")
        if name not in allowed:
            raise InvalidParameter(
                name[:100],
                f"Unknown query parameter {name[:100]!r}; this endpoint accepts: {', '.join(sorted(allowed))}.",
            )


def single(params: Sequence[tuple[str, str]], name: str) -> str | None:
    """The value of a parameter given at most once."""
    values = [v for k, v in params if k == name]
    if len(values) > 1:
        raise InvalidParameter(name, f"{name!r} is given more than once.")
    return values[0] if values else None


def parse_int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """An integer parameter within [low, high]."""
    if value is None:
        return default
    text = value.strip()
    if not _INTEGER.match(text) or not low <= int(text) <= high:
        raise InvalidParameter(name, f"{name!r} must be an integer from {low} to {high}, not {value[:40]!r}.")
    return int(text)


def _numbers(value: str, name: str) -> list[float]:
    try:
        numbers = [float(part) for part in value.split(",")]
    except ValueError:
        raise InvalidParameter(
            name, f"{name!r} must be comma-separated numbers, not {value[:80]!r}."
        ) from None
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidParameter(name, f"{name!r} must be finite numbers.")
    return numbers


def parse_bbox(value: str | None, crs_value: str | None) -> BBox | None:
    """``bbox`` (4 or 6 numbers, in ``bbox-crs`` axis order) as x/y bounds."""
    crs = parse_crs(crs_value, "bbox-crs")
    if value is None:
        if crs_value is not None:
            raise InvalidParameter("bbox-crs", "'bbox-crs' is given without 'bbox'.")
        return None
    numbers = _numbers(value, "bbox")
    if len(numbers) not in (4, 6):
        raise InvalidParameter("bbox", f"'bbox' takes 4 or 6 numbers, not {len(numbers)}.")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    a1, a2, b1, b2 = numbers
    if a1 > b1 or a2 > b2:
        raise InvalidParameter("bbox", "In 'bbox' each minimum must not exceed its maximum.")
    minx, miny, maxx, maxy = (a2, a1, b2, b1) if crs.lat_first else (a1, a2, b1, b2)
    if not in_domain(crs, minx, miny, maxx, maxy):
        raise InvalidParameter("bbox", f"'bbox' lies outside the domain of {crs.uri}.")
    return BBox(minx, miny, maxx, maxy, crs)


def _instant(text: str) -> date | datetime | None:
    text = text.strip()
    if text in ("", ".."):
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidParameter(
            "datetime",
            f"Invalid 'datetime' {text[:60]!r}: use RFC 3339 (2024-05-01 or 2024-05-01T08:00:00Z).",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _as_date(value: date | datetime) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _as_datetime(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime(value.year, value.month, value.day, tzinfo=UTC)


def parse_datetime(value: str | None, collection: Collection) -> TimeFilter | None:
    """``datetime`` (an instant or an interval with ``..`` for open ends) on the temporal property."""
    if value is None:
        return None
    field = collection.temporal_field
    if field is None:
        raise InvalidParameter(
            "datetime", f"Collection {collection.slug!r} has no date or time property to filter on."
        )
    parts = value.split("/")
    if len(parts) > 2:
        raise InvalidParameter("datetime", "'datetime' is an instant or one interval 'start/end'.")
    start, end = _instant(parts[0]), _instant(parts[-1])
    if len(parts) == 1 and start is None:
        raise InvalidParameter("datetime", "An instant cannot be open ('..').")
    if start is not None and end is not None and _as_datetime(start) > _as_datetime(end):
        raise InvalidParameter("datetime", "The start of 'datetime' is after its end.")
    if field.type == "date":
        return TimeFilter(start and _as_date(start), end and _as_date(end))
    exclusive = isinstance(end, date) and not isinstance(end, datetime)
    end_value = (
        None if end is None else _as_datetime(end) + (timedelta(days=1) if exclusive else timedelta(0))
    )
    return TimeFilter(start and _as_datetime(start), end_value, end_exclusive=exclusive)


def _fields(value: str, collection: Collection, name: str) -> list[Field]:
    out: list[Field] = []
    for part in value.split(","):
        key = part.strip()
        if not key:
            continue
        found = FID_FIELD if key == "fid" and name == "sortby" else collection.field(key)
        if found is None:
            raise InvalidParameter(
                name, f"{key[:80]!r} is not a property of {collection.slug!r} (see its queryables)."
            )
        if found not in out:
            out.append(found)
    return out


def parse_properties(value: str | None, collection: Collection) -> tuple[Field, ...] | None:
    """``properties``: the subset of properties to return (empty: none)."""
    if value is None:
        return None
    return tuple(_fields(value, collection, "properties"))


def parse_sortby(value: str | None, collection: Collection) -> tuple[SortKey, ...]:
    """``sortby``: comma-separated properties, each optionally prefixed by ``+`` or ``-``."""
    if value is None:
        return ()
    keys: list[SortKey] = []
    for part in value.split(","):
        # a literal '+' arrives as a space when the client did not percent-encode it
        token = part.strip()
        descending = token.startswith("-")
        name = token.lstrip("+-").strip()
        if not name:
            raise InvalidParameter("sortby", f"Empty key in 'sortby' {value[:80]!r}.")
        (found,) = _fields(name, collection, "sortby")
        keys.append(SortKey(found, descending))
    return tuple(keys)


def typed_value(field: Field, text: str) -> Any:
    """A query-string value converted to the property's type (``?name=value`` equality)."""
    try:
        if field.type == "integer":
            if not _INTEGER.match(text.strip().lstrip("-")):
                raise ValueError(text)
            return int(text)
        if field.type == "double":
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)
            return number
        if field.type == "boolean":
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return lowered in ("true", "1")
        if field.type == "date":
            return date.fromisoformat(text.strip())
        if field.type == "datetime":
            parsed = datetime.fromisoformat(text.strip())
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        raise InvalidParameter(field.name, f"{field.name!r} is {field.type}; {text[:60]!r} is not.") from None
    return text


def parse_equals(
    params: Sequence[tuple[str, str]], collection: Collection
) -> tuple[tuple[Field, tuple[Any, ...]], ...]:
    """``?property=value`` equality on queryables; a repeated property matches any of its values."""
    grouped: dict[str, list[Any]] = {}
    for name, value in params:
        if name in ITEMS_PARAMETERS:
            continue
        field = collection.field(name)
        if field is None:
            continue
        grouped.setdefault(name, []).append(typed_value(field, value))
    return tuple((f, tuple(grouped[f.name])) for f in collection.fields if f.name in grouped)


async def items_query(
    params: Sequence[tuple[str, str]], collection: Collection, *, default_limit: int = DEFAULT_LIMIT
) -> ItemsQuery:
    """Validate every parameter of an items request."""
    queryable = {f.name for f in collection.fields}
    reject_unknown(params, ITEMS_PARAMETERS | queryable)
    lang = (single(params, "filter-lang") or "cql2-text").strip().lower()
    if lang not in FILTER_LANGS:
        raise InvalidParameter("filter-lang", f"'filter-lang' must be one of {', '.join(FILTER_LANGS)}.")
    text = single(params, "filter")
    parsed = await parse_filter(text, lang) if text is not None and text.strip() else None
    filter_crs = single(params, "filter-crs")
    return ItemsQuery(
        limit=parse_int(single(params, "limit"), "limit", default_limit, 1, MAX_LIMIT),
        offset=parse_int(single(params, "offset"), "offset", 0, 0, MAX_OFFSET),
        bbox=parse_bbox(single(params, "bbox"), single(params, "bbox-crs")),
        datetime=parse_datetime(single(params, "datetime"), collection),
        equals=parse_equals(params, collection),
        filter=parsed,
        filter_crs=parse_crs(filter_crs, "filter-crs"),
        properties=parse_properties(single(params, "properties"), collection),
        sortby=parse_sortby(single(params, "sortby"), collection),
        crs=parse_crs(single(params, "crs"), "crs"),
    )


def item_query(params: Sequence[tuple[str, str]], collection: Collection, feature_id: str) -> ItemsQuery:
    """Parameters of a single-feature request (``f``, ``crs``, ``properties``)."""
    reject_unknown(params, {"f", "crs", "properties"})
    text = feature_id.strip()
    if not _INTEGER.match(text) or int(text) > 2**63 - 1:
        raise NotFound(
            f"Collection {collection.slug!r} has no feature {feature_id[:40]!r}.", parameter="featureId"
        )
    return ItemsQuery(
        limit=1,
        fid=int(text),
        properties=parse_properties(single(params, "properties"), collection),
        crs=parse_crs(single(params, "crs"), "crs"),
    )


DOWNLOAD_FORMATS = ("geojson", "csv", "gpkg", "shp")


def download_format(params: Sequence[tuple[str, str]]) -> str:
    """The ``f`` of a download (GeoJSON by default)."""
    reject_unknown(params, {"f"})
    fmt = (single(params, "f") or "geojson").strip().lower()
    fmt = "geojson" if fmt == "json" else fmt
    if fmt not in DOWNLOAD_FORMATS:
        raise InvalidParameter("f", f"'f' must be one of: {', '.join(DOWNLOAD_FORMATS)}.")
    return fmt
