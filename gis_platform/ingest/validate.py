"""Per-batch geometry validation, reprojection to WGS84, and the wrong-CRS check.

Checked: empty geometries, the vertex limit, NaN/infinite and out-of-range coordinates, swapped
lon/lat, and features outside Vietnam (a likely wrong CRS).

Fatal problems raise (422 naming features); features without geometry or, when only a few are,
outside Vietnam are dropped and listed in the report. Invalid geometries are repaired later in SQL
(ST_MakeValid) by the loader, which reports their feature numbers too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from gis_platform.ingest.crs import VIETNAM_BBOX, Reprojector
from gis_platform.ingest.errors import CrsError, GeometryError
from gis_platform.ingest.report import Report

#: shapely type id → geometry family.
_FAMILY = {
    0: "Point",
    4: "Point",
    1: "LineString",
    2: "LineString",
    5: "LineString",
    3: "Polygon",
    6: "Polygon",
}
_LAYER_FAMILY = {
    "Point": "Point", "MultiPoint": "Point", "LineString": "LineString", "MultiLineString": "LineString",
    "Polygon": "Polygon", "MultiPolygon": "Polygon",
}  # fmt: skip
_FAMILY_OF_TYPE = np.array([_FAMILY.get(i, "other") for i in range(8)], dtype=object)
SAMPLE = 10


def layer_family(geometry_type: str | None) -> str | None:
    """The family a layer's declared geometry type allows (None: any)."""
    return _LAYER_FAMILY.get(geometry_type or "")


class GeometryValidator:
    """Validate and reproject the geometries of successive batches of one file."""

    def __init__(
        self,
        *,
        file: str,
        tabular: bool,
        reprojector: Reprojector,
        crs_label: str,
        crs_assumed: bool,
        max_vertices: int,
        family: str | None,
        report: Report,
    ) -> None:
        self.file = file
        self.tabular = tabular
        self.reproject = reprojector
        self.crs_label = crs_label
        self.crs_assumed = crs_assumed
        self.max_vertices = max_vertices
        self.family = family
        self.report = report
        self.seen = 0
        self.outside = 0
        self.kept = 0

    def _where(self, features: list[int]) -> dict[str, Any]:
        where: dict[str, Any] = {"file": self.file, "feature": features[0], "features": features[:SAMPLE]}
        if self.tabular:
            where["row"] = features[0] + 1
        return where

    def _label(self, feature: int) -> str:
        return f"row {feature + 1} (feature {feature})" if self.tabular else f"feature {feature}"

    def check(
        self, geometries: np.ndarray[Any, Any], features: np.ndarray[Any, Any]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Return the kept geometries (EPSG:4326) and the boolean mask of kept rows."""
        n = len(geometries)
        keep = np.zeros(n, dtype=bool)
        type_ids = shapely.get_type_id(geometries)
        missing = type_ids < 0
        empty = np.zeros(n, dtype=bool)
        empty[~missing] = shapely.is_empty(geometries[~missing])
        dropped = np.flatnonzero(missing | empty)
        if len(dropped):
            self.report.add_features(
                "dropped_no_geometry", "no geometry (null or empty): dropped",
                features[dropped].tolist(), tabular=self.tabular,
            )  # fmt: skip
        rows = np.flatnonzero(~(missing | empty))
        if not len(rows):
            return np.empty(0, dtype=object), keep
        geoms, feats, type_ids = geometries[rows], features[rows], type_ids[rows]
        points = bool((type_ids == 0).all())
        if not points:
            self._vertex_limit(geoms, feats)
        xy = self._finite(geoms, feats, points=points)
        geoms = self.reproject(geoms)
        if points:  # one coordinate each: it is the bbox
            xy = xy if self.reproject.identity else shapely.get_coordinates(geoms)
            bounds = np.column_stack([xy, xy])
        else:
            bounds = shapely.bounds(geoms)
        in_range = np.isfinite(bounds).all(axis=1) & (bounds[:, 0] >= -180) & (bounds[:, 2] <= 180)
        in_range &= (bounds[:, 1] >= -90) & (bounds[:, 3] <= 90)
        if self.reproject.identity and not in_range.all():
            self._out_of_range(bounds, feats, ~in_range)
        west, south, east, north = VIETNAM_BBOX
        inside = in_range & (bounds[:, 2] >= west) & (bounds[:, 0] <= east)
        inside &= (bounds[:, 3] >= south) & (bounds[:, 1] <= north)
        self._outside(geoms, feats, inside)
        self._family(type_ids[inside], feats[inside])
        keep[rows[inside]] = True
        self.kept += int(inside.sum())
        return geoms[inside], keep

    def _vertex_limit(self, geoms: np.ndarray[Any, Any], feats: np.ndarray[Any, Any]) -> None:
        counts = shapely.get_num_coordinates(geoms)
        big = np.flatnonzero(counts > self.max_vertices)
        if len(big):
            f = int(feats[big[0]])
            raise GeometryError(
                f"{self._label(f)} has {int(counts[big[0]]):,} vertices; the limit is {self.max_vertices:,}. "
                "Simplify or split it.",
                vertices=int(counts[big[0]]), limit=self.max_vertices, **self._where(feats[big].tolist()),
            )  # fmt: skip

    def _finite(
        self, geoms: np.ndarray[Any, Any], feats: np.ndarray[Any, Any], *, points: bool
    ) -> np.ndarray[Any, Any]:
        """Refuse NaN/infinite coordinates; return the coordinates (one row per point for points)."""
        coords: np.ndarray[Any, Any]
        if points:
            coords = shapely.get_coordinates(geoms)
            index = np.arange(len(coords))
        else:
            coords, index = shapely.get_coordinates(geoms, return_index=True)
        finite = np.isfinite(coords)
        if finite.all():
            return coords
        bad_rows = ~finite.all(axis=1)
        bad = np.unique(index[bad_rows])
        first = coords[bad_rows][0]
        what = "NaN" if np.isnan(first).any() else "infinite"
        features = feats[bad].tolist()
        raise GeometryError(
            f"{self._label(features[0])} has {what} coordinates ({first[0]}, {first[1]}); "
            f"{len(features)} feature(s) in this part of the file do.",
            **self._where(features),
        )

    def _out_of_range(
        self, bounds: np.ndarray[Any, Any], feats: np.ndarray[Any, Any], out: np.ndarray[Any, Any]
    ) -> None:
        west, south, east, north = VIETNAM_BBOX
        swapped = (
            (bounds[:, 1] >= west)
            & (bounds[:, 3] <= east)
            & (bounds[:, 0] >= south)
            & (bounds[:, 2] <= north)
        )
        idx = np.flatnonzero(out)
        features = feats[idx].tolist()
        x, y = bounds[idx[0], 0], bounds[idx[0], 1]
        if swapped[idx].mean() >= 0.5:
            raise GeometryError(
                f"{self._label(features[0])}: longitude {x} and latitude {y} look swapped (Vietnam is at "
                "longitude 102-110, latitude 8-24); swap the columns or the coordinate order.",
                problem="swapped", **self._where(features),
            )  # fmt: skip
        if self.crs_assumed:
            raise CrsError(
                f"{self._label(features[0])}: ({x}, {y}) is not a longitude/latitude, so the coordinates are "
                "projected: give their CRS (form field 'crs' or CLI --crs), e.g. VN2000-HCMC, EPSG:3405, EPSG:32648.",
                **self._where(features),
            )  # fmt: skip
        raise GeometryError(
            f"{self._label(features[0])}: coordinates ({x}, {y}) are out of range (longitude -180..180, "
            f"latitude -90..90) in {self.crs_label}.",
            problem="out-of-range", crs=self.crs_label, **self._where(features),
        )  # fmt: skip

    def _outside(
        self, geoms: np.ndarray[Any, Any], feats: np.ndarray[Any, Any], inside: np.ndarray[Any, Any]
    ) -> None:
        self.seen += len(geoms)
        outside = np.flatnonzero(~inside)
        self.outside += len(outside)
        if not len(outside):
            return
        features = feats[outside].tolist()
        self.fail_if_mostly_outside(features)
        self.report.add_features(
            "dropped_outside_vietnam",
            f"outside Vietnam when read in {self.crs_label} (likely a wrong CRS or a stray point): dropped",
            features, tabular=self.tabular,
        )  # fmt: skip

    def fail_if_mostly_outside(self, sample: list[int] | None = None) -> None:
        """Refuse the file when most features seen so far fall outside Vietnam."""
        if self.seen and self.outside * 2 > self.seen:
            where = self._where(sample) if sample else {"file": self.file}
            raise CrsError(
                f"{self.outside:,} of {self.seen:,} features fall outside Vietnam when read in {self.crs_label}: "
                "the CRS is probably wrong. Give the right one (form field 'crs' or CLI --crs), e.g. VN2000-HCMC.",
                crs=self.crs_label, **where,
            )  # fmt: skip

    def _family(self, type_ids: np.ndarray[Any, Any], feats: np.ndarray[Any, Any]) -> None:
        if self.family is None or not len(type_ids):
            return
        families = _FAMILY_OF_TYPE[np.clip(type_ids, 0, len(_FAMILY_OF_TYPE) - 1)]
        wrong = np.flatnonzero(families != self.family)
        if len(wrong):
            found = str(families[wrong[0]])
            raise GeometryError(
                f"The layer holds {self.family} geometries but {self._label(int(feats[wrong[0]]))} is a {found}.",
                problem="geometry-type", expected=self.family, found=found, **self._where(feats[wrong].tolist()),
            )  # fmt: skip
