"""Import one staged file: sniff, open, choose CRS and columns, check a first batch, then stream it in.

``prepare`` does everything that can fail fast (the HTTP endpoint runs it before answering 202);
``load`` streams every batch through validation into a new version, under a per-layer lock so two
imports of one layer run one after the other, and publishes it if asked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import shapely
from pyproj import CRS

from gis_platform.errors import NotFound
from gis_platform.ingest import crs as crs_mod
from gis_platform.ingest import queries
from gis_platform.ingest.archive import Limits, checksum, sniff
from gis_platform.ingest.attributes import (
    AttributeConverter,
    ColumnPlan,
    in_batch_duplicates,
    is_placeholder,
    plan_columns,
)
from gis_platform.ingest.errors import CrsError, GeometryError, IngestError
from gis_platform.ingest.loader import VersionWriter
from gis_platform.ingest.readers import Source, batches, open_source
from gis_platform.ingest.report import Report
from gis_platform.ingest.tabular import TabularGeometry, detect, geometries
from gis_platform.ingest.types import IngestOptions, IngestProgress, ProgressFn, VersionInfo
from gis_platform.ingest.validate import GeometryValidator, layer_family
from gis_platform.ingest.versions import publish_version
from gis_platform.settings import IngestSettings

logger = logging.getLogger(__name__)

PREFLIGHT_FEATURES = 1000
POINT_BATCH = 65_536
SHAPE_BATCH = 8_192


@dataclass
class Prepared:
    """A file opened and checked, ready to load."""

    source: Source
    crs: CRS
    crs_label: str
    crs_origin: str
    tabular: TabularGeometry | None
    plan: ColumnPlan
    checksum: str
    settings: IngestSettings
    layer_id: int
    family: str | None

    @property
    def batch_size(self) -> int:
        """Features per batch: more for points, fewer for shapes with many vertices."""
        points = (self.tabular is not None and self.tabular.lon is not None) or (
            self.source.geometry_type or ""
        ).endswith("Point")
        return POINT_BATCH if points else SHAPE_BATCH


def prepare(
    conn: psycopg.Connection[Any],
    slug: str,
    path: Path,
    *,
    name: str,
    workdir: Path,
    options: IngestOptions,
    settings: IngestSettings,
) -> Prepared:
    """Open and check ``path`` for layer ``slug``; raise a problem that names the file if it is bad."""
    layer = queries.select_layer(conn, slug)
    if layer is None:
        raise NotFound(f"No layer {slug!r} in the catalogue.", parameter="slug")
    where = name
    try:
        staged = sniff(path, name, workdir, Limits.from_settings(settings), layer_name=options.layer_name)
        where = staged.name
        source = open_source(
            staged,
            workdir,
            layer_name=options.layer_name,
            encoding=options.encoding,
            max_columns=settings.max_columns,
        )
        tabular = detect(source.fields, source.name) if source.tabular else None
        crs, origin = _choose_crs(source, options.crs, tabular)
        prepared = Prepared(
            source=source, crs=crs, crs_label=crs_mod.label(crs), crs_origin=origin, tabular=tabular,
            plan=ColumnPlan([], [], None), checksum=checksum(path), settings=settings, layer_id=int(layer["id"]),
            family=layer_family(layer["geometry_type"]),
        )  # fmt: skip
        _preflight(prepared)
    except IngestError as exc:
        raise exc.locate(where) from None
    return prepared


def _choose_crs(source: Source, given: str | None, tabular: TabularGeometry | None) -> tuple[CRS, str]:
    if given:
        return crs_mod.parse_crs(given), "given"
    declared = None if tabular else crs_mod.file_crs(source.crs_definition)
    if declared is not None:
        return declared, "file"
    if tabular is not None:
        return crs_mod.WGS84, "assumed"
    where = "no .prj file" if source.format == "shapefile" else "no CRS in its metadata"
    raise CrsError(
        f"The file does not say which coordinate system it uses ({where}); give it (form field 'crs' or CLI "
        "--crs), e.g. VN2000-HCMC (HCMC TM-3 105°45'), EPSG:3405 (VN-2000 / UTM 48N) or EPSG:4326.",
        file=source.name, parameter="crs",
    )  # fmt: skip


class _Batcher:
    """Turns record batches into (attributes, geometries, feature numbers) for the writer."""

    def __init__(self, prepared: Prepared, report: Report, schema: pa.Schema, meta: dict[str, Any]) -> None:
        self.p = prepared
        self.report = report
        source = prepared.source
        self.geometry_column = None if source.tabular else (meta.get("geometry_name") or "wkb_geometry")
        if self.geometry_column is not None and self.geometry_column not in schema.names:
            raise IngestError("The file has no geometry column.", file=source.name, type_hint="no-geometry")
        exclude = {c for c in (self.geometry_column, meta.get("fid_column")) if c}
        drop = (prepared.tabular.wkt,) if prepared.tabular and prepared.tabular.wkt else ()
        prepared.plan = plan_columns(
            source, schema, exclude, max_columns=prepared.settings.max_columns, drop=drop
        )
        self.converter = AttributeConverter(source, prepared.plan, report)
        self.validator = GeometryValidator(
            file=source.name, tabular=source.tabular, reprojector=crs_mod.Reprojector(prepared.crs),
            crs_label=prepared.crs_label, crs_assumed=prepared.crs_origin == "assumed",
            max_vertices=prepared.settings.max_vertices, family=prepared.family, report=report,
        )  # fmt: skip

    def __call__(
        self, batch: pa.RecordBatch, first: int
    ) -> tuple[pa.Table | None, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        features = np.arange(first, first + batch.num_rows, dtype=np.int64)
        if self.p.tabular is not None:
            raw = geometries(batch, self.p.tabular, first, self.p.source.name)
        else:
            assert self.geometry_column is not None  # noqa: S101
            column = batch.column(self.geometry_column)
            raw = shapely.from_wkb(column.to_numpy(zero_copy_only=False), on_invalid="ignore")
            self._unreadable(column, raw, features)
            if shapely.has_z(raw).any():  # elevations (KML's 0s mostly) are not kept
                raw = shapely.force_2d(raw)
                self.report.facts["z_dropped"] = True
        geoms, keep = self.validator.check(raw, features)
        attributes = self.converter.convert(batch, first)
        if attributes is not None and not keep.all():
            attributes = attributes.filter(pa.array(keep))
        return attributes, geoms, features[keep]

    def _unreadable(self, wkb: pa.Array, geoms: np.ndarray[Any, Any], features: np.ndarray[Any, Any]) -> None:
        given = np.asarray(wkb.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        bad = np.flatnonzero(shapely.is_missing(geoms) & given)
        if len(bad):
            raise GeometryError(
                f"feature {int(features[bad[0]])}: the geometry cannot be decoded.",
                file=self.p.source.name, feature=int(features[bad[0]]), features=features[bad[:10]].tolist(),
            )  # fmt: skip


def _preflight(prepared: Prepared) -> None:
    """Check the schema and the first features now, so most bad files fail before a job starts."""
    report = Report()
    with batches(prepared.source, PREFLIGHT_FEATURES) as stream:
        batcher = _Batcher(prepared, report, stream.schema, stream.meta)
        batches_read = iter(stream)
        batch = next(batches_read, None)
        if batch is None:
            _require_features(prepared, 0, 0)
            return
        _, geoms, _ = batcher(batch, 1)
        _check_ids_in_batch(prepared, batch, 1)
        if batch.num_rows < PREFLIGHT_FEATURES and next(batches_read, None) is None:  # the whole file
            _require_features(prepared, batch.num_rows, len(geoms))


def _check_ids_in_batch(prepared: Prepared, batch: pa.RecordBatch, first: int) -> None:
    id_column = prepared.plan.id_column
    if id_column is None:
        return
    field = next(p.field for p in prepared.plan.planned if p.column is id_column)
    repeated = in_batch_duplicates(batch.column(field), first)
    if repeated:
        value, features = next(iter(repeated.items()))
        _duplicate_error(prepared, id_column.original, str(value), features)


def _duplicate_error(prepared: Prepared, column: str | None, value: str, features: list[int]) -> None:
    where = f"column {column!r}" if column else "the features' id"
    raise IngestError(
        f"Feature ids repeat: {where} has {value!r} on features {', '.join(map(str, features))}.",
        file=prepared.source.name, column=column, feature=features[0] if features else None,
        features=features or None, problem="duplicate-id",
        row=features[0] + 1 if features and prepared.source.tabular else None,
    )  # fmt: skip


def _require_features(prepared: Prepared, seen: int, kept: int) -> None:
    if seen == 0:
        raise IngestError("The file has no features.", file=prepared.source.name)
    if kept == 0:
        raise IngestError(
            f"None of the {seen:,} features has a geometry.",
            file=prepared.source.name,
            type_hint="no-geometry",
        )


@contextmanager
def _ingest_lock(conn: psycopg.Connection[Any], layer_id: int) -> Iterator[None]:
    queries.lock_layer_ingest(conn, layer_id)
    try:
        yield
    finally:
        if not conn.closed:
            queries.unlock_layer_ingest(conn, layer_id)


def load(
    conn: psycopg.Connection[Any],
    slug: str,
    prepared: Prepared,
    *,
    author: str,
    publish: bool,
    progress: ProgressFn | None = None,
    report: Report | None = None,
) -> VersionInfo:
    """Stream the prepared file into a new version of ``slug`` (published if asked)."""
    report = report if report is not None else Report()
    notify = progress or (lambda _p: None)
    total = prepared.source.feature_count
    notify(IngestProgress("waiting", 0, total))
    with _ingest_lock(conn, prepared.layer_id):
        try:
            info = _write(conn, slug, prepared, report, author, notify)
        except IngestError as exc:
            raise exc.locate(prepared.source.name) from None
        if publish:
            notify(IngestProgress("publishing", total or 0, total, info.version))
            loaded_report = info.report
            info = publish_version(conn, slug, info.version, actor=author)
            info.report = loaded_report
    logger.info(
        "%s v%s: %s features from %s (%s)",
        slug,
        info.version,
        info.feature_count,
        prepared.source.name,
        info.status,
    )
    return info


def _write(
    conn: psycopg.Connection[Any],
    slug: str,
    prepared: Prepared,
    report: Report,
    author: str,
    notify: ProgressFn,
) -> VersionInfo:
    source = prepared.source
    _facts(prepared, report)
    total = source.feature_count
    with batches(source, prepared.batch_size) as stream:
        batcher = _Batcher(prepared, report, stream.schema, stream.meta)
        report.facts["columns"] = len(prepared.plan.planned)
        if prepared.plan.dropped:
            report.facts["dropped_binary_columns"] = ", ".join(prepared.plan.dropped)
        with VersionWriter(
            conn, slug, prepared.plan.columns, author=author, source_filename=source.name,
            source_format=source.format, source_crs=prepared.crs_label, checksum=prepared.checksum,
        ) as writer:  # fmt: skip
            assert writer.info is not None  # noqa: S101
            version = writer.info.version
            first = 1
            notify(IngestProgress("loading", 0, total, version))
            for batch in stream:
                attributes, geoms, fids = batcher(batch, first)
                writer.write(attributes, geoms, fids)
                first += batch.num_rows
                notify(IngestProgress("loading", first - 1, total, version))
            seen, kept = first - 1, batcher.validator.kept
            report.facts.update(features_read=seen, features_loaded=kept)
            _require_features(prepared, seen, kept)
            batcher.validator.fail_if_mostly_outside()
            if ids := stream.duplicate_ids():
                _duplicate_error(prepared, None, ids[0], [])
            notify(IngestProgress("indexing", seen, total, version))
            info = writer.finish(report.as_json())
            _check_duplicates(conn, prepared, info)
            _note_repairs(report, info, source.tabular)
            final = report.as_json() | _loader_facts(info)
            queries.update_version(conn, info.version_id, {"validation_report": _json(final)})
    info.report = final
    return info


def _facts(prepared: Prepared, report: Report) -> None:
    source = prepared.source
    report.facts.update(
        file=source.name, format=source.format, layer=source.layer, crs=prepared.crs_label,
        crs_from=prepared.crs_origin, encoding=source.encoding_label,
    )  # fmt: skip
    if source.tabular and prepared.tabular:
        report.facts["geometry_columns"] = ", ".join(prepared.tabular.columns)


def _check_duplicates(conn: psycopg.Connection[Any], prepared: Prepared, info: VersionInfo) -> None:
    column = prepared.plan.id_column
    if column is None:
        return
    distinct, repeated = queries.duplicate_values(conn, info.table_name, column.name)
    if repeated and (distinct > 1 or not is_placeholder(repeated[0][0])):
        value, fids = repeated[0]
        _duplicate_error(prepared, column.original, value, fids)


def _note_repairs(report: Report, info: VersionInfo, tabular: bool) -> None:
    repaired = list(info.report.get("repaired_features") or [])
    report.add_features(
        "repaired_invalid_geometry", "invalid geometry repaired (ST_MakeValid)", repaired, tabular=tabular
    )
    report.counts["repaired_invalid_geometry"] += max(int(info.report.get("repaired", 0)) - len(repaired), 0)


def _loader_facts(info: VersionInfo) -> dict[str, Any]:
    keys = ("promoted_to_multi", "geometry_types")
    return {k: info.report[k] for k in keys if k in info.report} | {"feature_count": info.feature_count}


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
