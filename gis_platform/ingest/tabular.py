"""Geometry of CSV files: longitude/latitude columns found by name (Vietnamese too) or a WKT column.

GDAL reads the CSV (types detected over the whole file); the coordinates are parsed here so that a
bad value is reported with its row and column: ``row`` is the line of the file (the header is line 1,
so feature n is on line n + 1 unless a quoted value spans lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from gis_platform.ingest.errors import GeometryError, IngestError
from gis_platform.text import fold

# In order of preference: the most explicit name wins when a file has several.
LON_NAMES = ("longitude", "lon", "lng", "long", "kinh_do", "kinhdo", "x")
LAT_NAMES = ("latitude", "lat", "vi_do", "vido", "y")
WKT_NAMES = ("wkt", "the_geom", "geometry", "geom")
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


def name_key(name: str) -> str:
    """Fold a column name for matching: ``'Kinh độ (°)'`` → ``'kinh_do'``."""
    return re.sub(r"[^a-z0-9]+", "_", fold(name)).strip("_")


@dataclass(frozen=True)
class TabularGeometry:
    """Where a CSV's geometry is: ``lon``/``lat`` columns, or a ``wkt`` column."""

    lon: str | None = None
    lat: str | None = None
    wkt: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns holding geometry."""
        return tuple(c for c in (self.wkt, self.lon, self.lat) if c)


def detect(fields: list[str], file: str) -> TabularGeometry:
    """Find the geometry columns of a CSV by name (case- and diacritic-insensitive)."""
    keys: dict[str, str] = {}
    for f in fields:
        keys.setdefault(name_key(f), f)

    def first(names: tuple[str, ...]) -> str | None:
        return next((keys[n] for n in names if n in keys), None)

    wkt = first(WKT_NAMES)
    if wkt:
        return TabularGeometry(wkt=wkt)
    lon, lat = first(LON_NAMES), first(LAT_NAMES)
    if lon and lat:
        return TabularGeometry(lon=lon, lat=lat)
    raise IngestError(
        "The CSV has no geometry: name its coordinate columns lon/lat (or longitude/latitude, x/y, "
        "kinh_do/vi_do, Kinh độ/Vĩ độ) or give a WKT column (wkt, geometry, geom, the_geom). "
        f"Its columns: {', '.join(fields[:50])}.",
        file=file, type_hint="no-geometry",
    )  # fmt: skip


def geometries(
    batch: pa.RecordBatch, spec: TabularGeometry, first_feature: int, file: str
) -> np.ndarray[Any, Any]:
    """Build shapely geometries for a batch; None where the row has no coordinates."""
    if spec.wkt:
        return _from_wkt(batch.column(spec.wkt), spec.wkt, first_feature, file)
    assert spec.lon and spec.lat  # noqa: S101 - detect() returns one or the other
    x = _numbers(batch.column(spec.lon), spec.lon, first_feature, file)
    y = _numbers(batch.column(spec.lat), spec.lat, first_feature, file)
    present = ~(np.isnan(x) & ~_filled(batch.column(spec.lon))) & ~(
        np.isnan(y) & ~_filled(batch.column(spec.lat))
    )
    out = np.full(len(x), None, dtype=object)
    out[present] = shapely.points(x[present], y[present])
    return out


def _filled(array: pa.Array) -> np.ndarray[Any, Any]:
    """True where the cell holds a value (NaN written out), False where it is empty."""
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _numbers(array: pa.Array, column: str, first_feature: int, file: str) -> np.ndarray[Any, Any]:
    """Parse a coordinate column to float64 (NaN where empty); a non-number names its row."""
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        return np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    text = pc.utf8_trim_whitespace(array.cast(pa.string()))
    try:
        return np.asarray(text.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    except pa.ArrowInvalid:
        pass
    values = text.to_pylist()
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None or v == "":
            continue
        try:
            out[i] = float(v.replace(",", ".") if _DECIMAL_COMMA.match(v) else v)
        except ValueError:
            feature = first_feature + i
            raise GeometryError(
                f"row {feature + 1}: column {column!r} holds {v[:40]!r}, which is not a number.",
                file=file, row=feature + 1, feature=feature, column=column,
            ) from None  # fmt: skip
    return out


def _from_wkt(array: pa.Array, column: str, first_feature: int, file: str) -> np.ndarray[Any, Any]:
    text = array.cast(pa.string()).to_numpy(zero_copy_only=False)
    parsed = shapely.from_wkt(text, on_invalid="ignore")
    given = np.array([t is not None and str(t).strip() != "" for t in text], dtype=bool)
    bad = np.flatnonzero(given & shapely.is_missing(parsed))
    if len(bad):
        i = int(bad[0])
        feature = first_feature + i
        raise GeometryError(
            f"row {feature + 1}: column {column!r} is not valid WKT: {str(text[i])[:60]!r}.",
            file=file, row=feature + 1, feature=feature, column=column,
            features=[first_feature + int(b) for b in bad[:10]],
        )  # fmt: skip
    return np.asarray(parsed, dtype=object)
