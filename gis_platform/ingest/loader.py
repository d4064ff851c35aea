"""Bulk loading of one layer version and its atomic publish.

A version is written in three steps, each its own transaction: allocate (the version row in status
``loading`` and its empty table, committed so a crashed loader can be found and cleaned up), COPY
(streamed batches of CSV built by Arrow in C, with hex EWKB geometry parsed by PostGIS) and finalise
(repair, Multi* promotion, primary key, GiST indexes, ANALYZE, counts). Publishing is one more
transaction that flips the layer's current version and its view (:mod:`gis_platform.ingest.versions`,
re-exported here); until then the old version serves.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely

from gis_platform.errors import NotFound, PlatformError
from gis_platform.ingest import queries
from gis_platform.ingest.errors import VersionConflict as VersionConflict
from gis_platform.ingest.parallel import ConnectionPoolRunner
from gis_platform.ingest.types import Column, VersionInfo
from gis_platform.ingest.versions import publish_version as publish_version
from gis_platform.ingest.versions import recover_abandoned_versions as recover_abandoned_versions
from gis_platform.ingest.versions import require_autocommit
from gis_platform.ingest.versions import rollback_to as rollback_to

logger = logging.getLogger(__name__)

#: Geometry families: a layer holds one; Multi* and single of one family mix after promotion.
FAMILIES = {
    "POINT": "Point", "MULTIPOINT": "Point",
    "LINESTRING": "LineString", "MULTILINESTRING": "LineString",
    "POLYGON": "Polygon", "MULTIPOLYGON": "Polygon",
}  # fmt: skip

_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, batch_size=8192)
# shapely type ids → PostGIS GeometryType() names
_TYPE_IDS = {0: "POINT", 1: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING", 6: "MULTIPOLYGON",
             7: "GEOMETRYCOLLECTION", 2: "LINEARRING"}  # fmt: skip


class VersionWriter:
    """Write one new version of a layer; on any error the version is marked failed and its table dropped.

    Use as a context manager: ``with VersionWriter(conn, slug, columns, …) as w: w.write(…); info = w.finish()``.
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        slug: str,
        columns: list[Column],
        *,
        author: str,
        source_filename: str | None = None,
        source_format: str | None = None,
        source_crs: str | None = None,
        checksum: str | None = None,
        progress: Callable[[int], None] | None = None,
        workers: int = 2,
    ) -> None:
        require_autocommit(conn)
        self.workers = workers
        self._runner: ConnectionPoolRunner | None = None
        self._types: dict[str, int] = {}
        self._bounds = np.array([np.inf, np.inf, -np.inf, -np.inf])
        self._rows = 0
        self.conn = conn
        self.slug = slug
        self.columns = columns
        self.progress = progress
        self._meta = {
            "columns": json.dumps([c.as_json() for c in columns], ensure_ascii=False),
            "checksum": checksum,
            "source_filename": source_filename,
            "source_format": source_format,
            "source_crs": source_crs,
            "author": author,
        }
        self._next_fid = 1
        self.info: VersionInfo | None = None

    def __enter__(self) -> Self:
        with self.conn.transaction():
            layer = queries.select_layer_for_update(self.conn, self.slug)
            if layer is None:
                raise NotFound(f"No layer {self.slug!r} in the catalogue.", parameter="slug")
            row = queries.insert_version(self.conn, layer["id"], self._meta)
            queries.create_data_table(self.conn, row["table_name"], self.columns)
            queries.insert_audit(
                self.conn,
                {"actor": self._meta["author"], "action": "load", "layer_slug": self.slug,
                 "version_before": layer["current_version"], "version_after": row["version"],
                 "details": {k: self._meta[k] for k in ("source_filename", "source_format", "checksum")}},
            )  # fmt: skip
        self.info = VersionInfo(
            layer_id=layer["id"], slug=self.slug, version=row["version"], table_name=row["table_name"],
            status="loading", version_id=row["id"],
        )  # fmt: skip
        # held for the life of this session: recovery treats an unlocked 'loading' version as abandoned
        queries.hold_version_lock(self.conn, self.info.version_id)
        self._runner = ConnectionPoolRunner(self.conn, self.workers)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.info is None:
            return
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        if exc is not None:
            self._fail(exc)
        queries.release_version_lock(self.conn, self.info.version_id)

    def _fail(self, exc: BaseException) -> None:
        assert self.info is not None  # noqa: S101
        if self.conn.closed:
            return
        self.conn.rollback()
        with self.conn.transaction():
            queries.drop_data_table(self.conn, self.info.table_name)
            detail = exc.detail if isinstance(exc, PlatformError) else f"{type(exc).__name__}: {exc}"
            queries.update_version(
                self.conn, self.info.version_id, {"status": "failed", "error": detail[:2000]}
            )
        self.info.status = "failed"
        logger.info("version %s of %s failed: %s", self.info.version, self.slug, detail)

    def write(
        self,
        attributes: pa.Table | None,
        geometries: np.ndarray[Any, Any],
        fids: np.ndarray[Any, Any] | None = None,
    ) -> int:
        """COPY one batch: attribute columns in ``self.columns`` order and shapely geometries in EPSG:4326.

        The batch is encoded here (Arrow's CSV writer and shapely, both in C) and sent by a worker
        connection, so encoding the next batch overlaps loading this one. ``fids`` (increasing and
        unique across batches) keep the source's feature numbers when the caller dropped rows; by
        default rows are numbered on from the previous batch.
        """
        assert self.info is not None and self._runner is not None  # noqa: S101
        n = len(geometries)
        if n == 0:
            return 0
        self._track(geometries)
        if fids is None:
            fids = np.arange(self._next_fid, self._next_fid + n, dtype=np.int64)
        self._next_fid = int(fids[-1]) + 1
        ewkb = shapely.to_wkb(shapely.set_srid(geometries, 4326), hex=True, include_srid=True)
        arrays: list[pa.Array | pa.ChunkedArray] = [pa.array(np.asarray(fids, dtype=np.int64))]
        names = ["fid"]
        if attributes is not None:
            arrays.extend(attributes.columns)
            names.extend(c.name for c in self.columns)
        arrays.append(pa.array(ewkb, type=pa.string()))
        names.append("geom")
        buffer = io.BytesIO()
        pacsv.write_csv(pa.table(arrays, names=names), buffer, _CSV_OPTIONS)
        statement = queries.copy_statement(self.info.table_name, self.columns)

        def copy_batch(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
                copy.write(buffer.getbuffer())

        self._runner.submit(copy_batch)
        if self.progress:
            self.progress(n)
        return n

    def _track(self, geometries: np.ndarray[Any, Any]) -> None:
        """Count geometry types and grow the bbox as batches go by (no SQL pass over the data later)."""
        ids, counts = np.unique(shapely.get_type_id(geometries), return_counts=True)
        for type_id, count in zip(ids.tolist(), counts.tolist(), strict=True):
            name = _TYPE_IDS.get(type_id, "None")
            self._types[name] = self._types.get(name, 0) + count
        bounds = shapely.bounds(geometries)
        if len(bounds) and not np.all(np.isnan(bounds)):
            self._bounds = np.array([
                min(self._bounds[0], np.nanmin(bounds[:, 0])), min(self._bounds[1], np.nanmin(bounds[:, 1])),
                max(self._bounds[2], np.nanmax(bounds[:, 2])), max(self._bounds[3], np.nanmax(bounds[:, 3])),
            ])  # fmt: skip
        self._rows += len(geometries)

    def finish(self, extra_report: dict[str, Any] | None = None) -> VersionInfo:
        """Repair, index and count the loaded data; the version becomes ``validated`` (not yet published).

        ``extra_report`` (the caller's validation findings) is merged into the version's report.
        """
        assert self.info is not None and self._runner is not None  # noqa: S101
        self._runner.wait()
        table = self.info.table_name
        types = {t: n for t, n in self._types.items() if t != "None"}
        families = {FAMILIES.get(t, t) for t in types}
        if len(families) > 1:
            raise MixedGeometryError(
                f"The layer mixes geometry families {sorted(families)}; upload one family per layer.",
                geometry_types=types,
            )
        with self.conn.transaction():
            # points are always valid once their coordinates are finite (checked by the readers)
            repair = queries.repair_geometries(self.conn, table, polygonal_or_lineal=families != {"Point"})
            changed = repair["dropped_empty"] > 0 or repair["repaired"] > 0
            current = queries.geometry_types(self.conn, table) if changed else types
            promoted = queries.promote_to_multi(self.conn, table) if len(current) > 1 else 0
        self._runner.run_all(
            [lambda c, st=st: queries.build_index(c, st) for st in queries.index_statements(table)]  # type: ignore[misc]
        )
        with self.conn.transaction():
            queries.attach_primary_key_and_analyze(self.conn, table)
            if changed:
                count, bbox = queries.table_stats(self.conn, table)
            else:
                count = self._rows
                bbox = (
                    [float(v) for v in self._bounds] if count and np.all(np.isfinite(self._bounds)) else None
                )
            final_types = (
                sorted(queries.geometry_types(self.conn, table)) if (changed or promoted) else sorted(types)
            )
            geometry_type = _type_name(final_types[0]) if len(final_types) == 1 else None
            report = {
                **(extra_report or {}),
                **repair,
                "promoted_to_multi": promoted,
                "geometry_types": types,
            }
            queries.update_version(
                self.conn,
                self.info.version_id,
                {"status": "validated", "feature_count": count, "bbox": bbox, "geometry_type": geometry_type,
                 "validation_report": json.dumps(report)},
            )  # fmt: skip
        self.info.status = "validated"
        self.info.feature_count = count
        self.info.bbox = bbox
        self.info.geometry_type = geometry_type
        self.info.report = report
        return self.info


class MixedGeometryError(PlatformError):
    """Points and polygons (say) in one file."""

    type = "mixed-geometry"
    title = "Mixed geometry types"
    status = 422


def _type_name(postgis_type: str) -> str:
    names = {
        "POINT": "Point", "MULTIPOINT": "MultiPoint", "LINESTRING": "LineString",
        "MULTILINESTRING": "MultiLineString", "POLYGON": "Polygon", "MULTIPOLYGON": "MultiPolygon",
    }  # fmt: skip
    return names.get(postgis_type, "Geometry")
