"""Deterministic subdivision of polygons into parts of given weights (recursive weighted bisection).

A polygon is sampled on a regular grid; at each step the list of parts is halved by weight and the
polygon is cut with an axis-parallel line at the weighted quantile of the sample points along its
longer side, so every part gets an area close to its weight's share. The cuts are exact complements
(intersections with two half-boxes that share an edge), so the parts tile the polygon with no gaps
or overlaps. Same input, same output: no randomness anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

#: Sample points per part (more = closer to the target areas, slower).
POINTS_PER_PART = 48
MIN_POINTS = 400
MAX_POINTS = 60_000

Points = NDArray[np.float64]


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Return the polygonal parts of ``geom`` as a MultiPolygon (empty when there are none)."""
    kind = geom.geom_type
    if kind == "MultiPolygon":
        return geom
    if kind == "Polygon":
        return shapely.MultiPolygon([geom]) if not geom.is_empty else shapely.MultiPolygon()
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    flat: list[BaseGeometry] = []
    for p in parts:
        flat.extend(shapely.get_parts(p) if p.geom_type == "MultiPolygon" else [p])
    flat = [p for p in flat if not p.is_empty and p.area > 0]
    return shapely.MultiPolygon(flat) if flat else shapely.MultiPolygon()


def sample_points(geom: BaseGeometry, n_parts: int) -> Points:
    """Grid points inside ``geom``, about ``POINTS_PER_PART`` per part (an ``(n, 2)`` array)."""
    target = min(MAX_POINTS, max(MIN_POINTS, POINTS_PER_PART * n_parts))
    minx, miny, maxx, maxy = geom.bounds
    step = math.sqrt(max(geom.area, 1e-18) / target)
    xs = np.arange(minx + step / 2, maxx, step)
    ys = np.arange(miny + step / 2, maxy, step)
    gx, gy = np.meshgrid(xs, ys)
    x, y = gx.ravel(), gy.ravel()
    shapely.prepare(geom)
    inside = shapely.contains_xy(geom, x, y)
    return np.column_stack([x[inside], y[inside]])


def _halve(weights: Sequence[float]) -> int:
    """Index that splits ``weights`` into two runs of nearly equal total (both non-empty)."""
    total = sum(weights)
    acc, best, best_gap = 0.0, 1, math.inf
    for i in range(1, len(weights)):
        acc += weights[i - 1]
        gap = abs(acc - total / 2)
        if gap < best_gap:
            best, best_gap = i, gap
    return best


def _cut(geom: BaseGeometry, pts: Points, frac: float) -> tuple[BaseGeometry, BaseGeometry, Points, Points]:
    minx, miny, maxx, maxy = geom.bounds
    # cut across the longer side, measured in metres-ish (longitude shrinks with latitude)
    shrink = math.cos(math.radians((miny + maxy) / 2))
    axis = 0 if (maxx - minx) * shrink >= (maxy - miny) else 1
    lo, hi = (minx, maxx) if axis == 0 else (miny, maxy)
    if len(pts) >= 8:
        col = np.sort(pts[:, axis])
        at = float(col[min(len(col) - 1, round(frac * len(col)))])
    else:
        at = lo + frac * (hi - lo)
    eps = (hi - lo) * 1e-6
    at = min(max(at, lo + eps), hi - eps)
    pad = max(maxx - minx, maxy - miny) + 1.0
    if axis == 0:
        a = (minx - pad, miny - pad, at, maxy + pad)
        b = (at, miny - pad, maxx + pad, maxy + pad)
    else:
        a = (minx - pad, miny - pad, maxx + pad, at)
        b = (minx - pad, at, maxx + pad, maxy + pad)
    left = pts[:, axis] < at
    return _clip(geom, a), _clip(geom, b), pts[left], pts[~left]


def _clip(geom: BaseGeometry, box: tuple[float, float, float, float]) -> BaseGeometry:
    # clip_by_rect is several times faster than a general overlay; its rare invalid output is repaired
    try:
        out = polygonal(shapely.clip_by_rect(geom, *box))
    except shapely.errors.GEOSException:
        out = polygonal(shapely.intersection(shapely.make_valid(geom), shapely.box(*box)))
    if not out.is_valid:
        out = polygonal(shapely.make_valid(out))
    return out


def _positive(weights: Sequence[float]) -> list[float]:
    clean = [w if w > 0 else 0.0 for w in weights]
    if sum(clean) <= 0:
        clean = [1.0] * len(weights)
    # a zero weight still gets a sliver, so that every part has a polygon
    floor = sum(clean) * 1e-3 / len(clean)
    return [max(w, floor) for w in clean]


def split(geom: BaseGeometry, weights: Sequence[float], points: Points | None = None) -> list[BaseGeometry]:
    """Split ``geom`` into ``len(weights)`` MultiPolygons whose areas follow ``weights`` (in order)."""
    if not weights:
        return []
    clean = _positive(weights)
    pts = sample_points(geom, len(clean)) if points is None else points
    out: list[BaseGeometry] = []
    _split_points(polygonal(geom), pts, clean, out, [])
    return out


def nested(
    geom: BaseGeometry, outer: Sequence[float], inner: Sequence[Sequence[float]]
) -> tuple[list[BaseGeometry], list[list[BaseGeometry]]]:
    """Split ``geom`` into parts by ``outer`` weights, then each part by its ``inner`` weights.

    One grid of sample points serves both levels (the inner splits reuse the points that fell in
    each outer part), which is what keeps tens of thousands of parts fast.
    """
    total_leaves = sum(len(i) for i in inner)
    pts = sample_points(geom, max(total_leaves, len(outer)))
    parts: list[BaseGeometry] = []
    part_pts: list[Points] = []
    _split_points(polygonal(geom), pts, _positive(outer), parts, part_pts)
    children = [
        split(part, list(w), p if len(p) >= 8 * len(w) else None)
        for part, p, w in zip(parts, part_pts, inner, strict=True)
    ]
    return parts, children


def _split_points(
    geom: BaseGeometry, pts: Points, weights: list[float], out: list[BaseGeometry], out_pts: list[Points]
) -> None:
    if len(weights) == 1:
        out.append(geom)
        out_pts.append(pts)
        return
    mid = _halve(weights)
    frac = sum(weights[:mid]) / sum(weights)
    a, b, pa, pb = _cut(geom, pts, frac)
    if a.is_empty or b.is_empty:
        a, b, pa, pb = _cut(geom, np.empty((0, 2)), frac)
    _split_points(a, pa, weights[:mid], out, out_pts)
    _split_points(b, pb, weights[mid:], out, out_pts)
