"""Attribute columns of an upload: safe names, platform types, and per-batch conversion for COPY."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from gis_platform.ingest import encoding as enc
from gis_platform.ingest.columns import arrow_type_name, sanitise_all
from gis_platform.ingest.errors import IngestError
from gis_platform.ingest.readers import Source
from gis_platform.ingest.report import Report
from gis_platform.ingest.tabular import name_key
from gis_platform.ingest.types import Column
from gis_platform.text import nfc

#: Column names (folded) that identify features: repeated values are an error.
ID_KEYS = ("id", "fid", "objectid", "object_id", "gid", "feature_id", "featureid", "uid", "uuid", "ma_id")


@dataclass(frozen=True)
class Planned:
    """One source field and the column it becomes."""

    field: str
    column: Column
    kind: str  # text | json | cast | keep


@dataclass
class ColumnPlan:
    """Which fields of the source become which columns, and how values are converted."""

    planned: list[Planned]
    dropped: list[str]
    id_column: Column | None

    @property
    def columns(self) -> list[Column]:
        """The version table's attribute columns, in order."""
        return [p.column for p in self.planned]


def plan_columns(
    source: Source, schema: pa.Schema, exclude: set[str], *, max_columns: int, drop: tuple[str, ...] = ()
) -> ColumnPlan:
    """Decide the attribute columns from the Arrow schema of the batches."""
    fields = [f for f in schema if f.name not in exclude and f.name not in source.skip_fields]
    fields = [f for f in fields if f.name not in drop]
    count = len(fields)
    if count > max_columns:
        raise IngestError(
            f"The file has {count} attribute columns; at most {max_columns} are accepted.",
            file=source.name, columns=count, limit=max_columns,
        )  # fmt: skip
    kept, dropped, originals = [], [], []
    for f in fields:
        if (
            pa.types.is_binary(f.type)
            or pa.types.is_large_binary(f.type)
            or pa.types.is_fixed_size_binary(f.type)
        ):
            dropped.append(f.name)
            continue
        kept.append(f)
        originals.append(_original_name(f.name, source))
    planned = []
    for f, (safe, original) in zip(kept, sanitise_all(originals), strict=True):
        kind, out_type = _conversion(f.type)
        planned.append(Planned(f.name, Column(safe, original, arrow_type_name(out_type)), kind))
    id_column = next((p.column for p in planned if name_key(p.column.original) in ID_KEYS), None)
    return ColumnPlan(planned, dropped, id_column)


def _original_name(name: str, source: Source) -> str:
    """The field name as the file means it: decoded when legacy-encoded, NFC, without NUL."""
    if source.value_encoding and not name.isascii():
        try:
            name = enc.decode_value(name, source.value_encoding)
        except UnicodeError:
            raise IngestError(
                f"The column name {name!r} is not valid {source.value_encoding}; declare the right encoding.",
                file=source.name, column=name,
            ) from None  # fmt: skip
    return nfc(name).replace("\x00", "")


def _conversion(dtype: pa.DataType) -> tuple[str, pa.DataType]:
    if pa.types.is_dictionary(dtype):
        return _conversion(dtype.value_type)
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_null(dtype):
        return "text", pa.string()
    if pa.types.is_nested(dtype):
        return "json", pa.string()
    if pa.types.is_time(dtype) or pa.types.is_duration(dtype) or pa.types.is_interval(dtype):
        return "cast", pa.string()
    if pa.types.is_decimal(dtype):
        return "cast", pa.float64()
    return "keep", dtype


class AttributeConverter:
    """Turn a batch's fields into the COPY columns: decode text, NFC, strip NUL, JSON-encode lists."""

    def __init__(self, source: Source, plan: ColumnPlan, report: Report) -> None:
        self.source = source
        self.plan = plan
        self.report = report

    def convert(self, batch: pa.RecordBatch, first_feature: int) -> pa.Table | None:
        """The batch's attribute table (column names are the safe names)."""
        if not self.plan.planned:
            return None
        arrays = [self._column(batch.column(p.field), p, first_feature) for p in self.plan.planned]
        return pa.table(arrays, names=[p.column.name for p in self.plan.planned])

    def _column(self, array: pa.Array, planned: Planned, first_feature: int) -> pa.Array:
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if planned.kind == "json":
            return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                             for v in array.to_pylist()], type=pa.string())  # fmt: skip
        if planned.kind == "cast":
            return array.cast(pa.float64() if pa.types.is_decimal(array.type) else pa.string())
        if planned.kind == "keep":
            return array
        return self._text(array.cast(pa.string()), planned.column.original, first_feature)

    def _text(self, array: pa.Array, column: str, first_feature: int) -> pa.Array:
        if self.source.value_encoding:
            array = enc.decode_array(
                array, self.source.value_encoding, column=column, first_feature=first_feature
            )
        else:
            array = enc.check_utf8_array(array, column=column, first_feature=first_feature)
        if pc.any(pc.match_substring(array, "\x00")).as_py():
            counts = pc.count_substring(array, "\x00")
            hits = pc.indices_nonzero(pc.fill_null(pc.greater(counts, 0), False)).to_pylist()
            self.report.add(
                "nul_bytes_stripped", f"NUL characters removed from {len(hits)} values",
                feature=first_feature + hits[0], column=column, count=int(pc.sum(counts).as_py()),
            )  # fmt: skip
            array = pc.replace_substring(array, "\x00", "")
        return array


def in_batch_duplicates(batch_ids: pa.Array, first_feature: int) -> dict[Any, list[int]]:
    """Values repeated within one batch and their feature numbers (a quick check before loading)."""
    counts = pc.value_counts(batch_ids.drop_null())
    if len(counts) == 1 and is_placeholder(counts[0]["values"].as_py()):
        return {}
    repeated = [c["values"].as_py() for c in counts if c["counts"].as_py() > 1]
    out: dict[Any, list[int]] = {}
    for value in repeated[:10]:
        mask = pc.fill_null(pc.equal(batch_ids, pa.scalar(value, type=batch_ids.type)), False)
        out[value] = [first_feature + i for i in pc.indices_nonzero(mask).to_pylist()[:10]]
    return out


def is_placeholder(value: Any) -> bool:
    """An id every feature shares that means "no id" (ArcGIS gives each new Shapefile an ``Id`` of 0)."""
    return str(value).strip() in ("", "0", "0.0")
