"""Deterministic generators of synthetic layers inside HCMC's real 2025 ward polygons.

Every generator takes its typed parameters (see :mod:`gis_platform.catalogue.manifest`), a feature
count and a seed, and returns a GeoDataFrame in EPSG:4326 whose columns are exactly the attributes the
manifest declares. The same seed gives the same output, and the work is vectorised with numpy and
shapely (a million points inside the wards take a few seconds).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from gis_platform.catalogue import names
from gis_platform.catalogue.manifest import file_sha256
from gis_platform.catalogue.params import (
    AttrSpec,
    BoundaryPointsSource,
    GeneratorSource,
    GridSource,
    LinesSource,
    PointsSource,
    PolygonsSource,
    RouteParams,
    RoutesSource,
    StopsSource,
    UnitType,
    WardAreasSource,
    Weight,
)

#: Bump when a generator's output changes for the same parameters, so `layers sync` reloads.
GENERATOR_VERSION = 1
WARDS_FILE = Path("hcmc") / "hcmc_wards_2025_tlq.gpkg"
WARDS_LAYER = "wards_2025"
_M_PER_DEG_LAT = 110_540.0
_M_PER_DEG_LON_EQ = 111_320.0
# Relative people per km² by unit type, scaled per ward by a fixed pseudo-random factor.
_DENSITY = {"Phường": 20.0, "Xã": 1.2, "Đặc khu": 0.3}
_DENSITY_SEED = 20250701


@dataclass(frozen=True)
class Wards:
    """HCMC's 168 wards/communes from 2025-07-01, sorted by code, with prepared geometries."""

    geoms: np.ndarray
    codes: np.ndarray
    names: np.ndarray
    full_names: np.ndarray
    unit_types: np.ndarray
    area_km2: np.ndarray
    density: np.ndarray
    tree: shapely.STRtree
    checksum: str

    @property
    def rural(self) -> np.ndarray:
        """True for communes and the special zone."""
        return np.asarray(self.unit_types != "Phường")

    def select(self, unit_types: list[UnitType] | None) -> np.ndarray:
        """Indices of the wards of the given unit types (all when None)."""
        if not unit_types:
            return np.arange(len(self.codes))
        return np.flatnonzero(np.isin(self.unit_types, unit_types))

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the ward containing each point, or -1."""
        found = np.full(len(x), -1, dtype=np.int64)
        if len(x):
            pts, wards = self.tree.query(shapely.points(x, y), predicate="within")
            found[pts] = wards
        return found


@lru_cache(maxsize=4)
def load_wards(sources_root: Path) -> Wards:
    """Read the 2025 ward polygons from ``sources_root/hcmc`` (cached per process)."""
    path = sources_root / WARDS_FILE
    frame = pyogrio.read_dataframe(path, layer=WARDS_LAYER).sort_values("code", kind="stable")
    geoms = frame.geometry.to_numpy()
    shapely.prepare(geoms)
    unit_types = frame["unit_type"].to_numpy(dtype=object)
    short = frame["name"].to_numpy(dtype=object)
    full = frame["fullName"].to_numpy(dtype=object)
    factor = np.random.default_rng(_DENSITY_SEED).lognormal(0.0, 0.5, len(frame))
    return Wards(
        geoms=geoms,
        codes=frame["code"].astype(str).to_numpy(dtype=object),
        names=np.where([s.strip().isdigit() for s in short], full, short).astype(object),
        full_names=full,
        unit_types=unit_types,
        area_km2=frame["areaKm2"].to_numpy(dtype=float),
        density=np.array([_DENSITY.get(t, 1.0) for t in unit_types]) * factor,
        tree=shapely.STRtree(geoms),
        checksum=file_sha256(path),
    )


def _allocate(
    wards: Wards, idx: np.ndarray, weight: Weight, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Share ``count`` features among the wards ``idx``."""
    if weight == "each":
        base, extra = divmod(count, len(idx))
        return base + (rng.permutation(len(idx)) < extra).astype(np.int64)
    area = wards.area_km2[idx]
    w = {
        "area": area,
        "urban": area * wards.density[idx],
        "rural": area * np.where(wards.rural[idx], 1, 0.05),
    }
    p = w[weight] / w[weight].sum()
    return rng.multinomial(count, p)


def _inside(geom: Any, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``k`` uniform points inside ``geom`` (prepared) by rejection from its bounding box."""
    minx, miny, maxx, maxy = geom.bounds
    ratio = (maxx - minx) * (maxy - miny) / max(geom.area, 1e-12)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    need = k
    while need > 0:
        m = int(need * ratio * 1.15) + 16
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(geom, x, y)
        xs.append(x[ok][:need])
        ys.append(y[ok][:need])
        need -= len(xs[-1])
    return np.concatenate(xs), np.concatenate(ys)


def sample_points(
    wards: Wards, idx: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points inside each ward of ``idx`` (``counts`` each): x, y and the ward index of each point."""
    parts = [(_inside(wards.geoms[i], int(k), rng), i, int(k)) for i, k in zip(idx, counts, strict=True) if k]
    if not parts:
        empty = np.zeros(0)
        return empty, empty, np.zeros(0, dtype=np.int64)
    x = np.concatenate([p[0][0] for p in parts])
    y = np.concatenate([p[0][1] for p in parts])
    ward = np.concatenate([np.full(k, i, dtype=np.int64) for _, i, k in parts])
    return x, y, ward


def _deg(dx_m: np.ndarray, dy_m: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return dx_m / (_M_PER_DEG_LON_EQ * np.cos(np.radians(lat))), dy_m / _M_PER_DEG_LAT


def _frame(
    wards: Wards,
    ward_idx: np.ndarray,
    geometry: np.ndarray,
    rng: np.random.Generator,
    *,
    name: str | None,
    attributes: dict[str, AttrSpec],
    extra: dict[str, Any] | None = None,
) -> gpd.GeoDataFrame:
    """Assemble the output frame: name, ward_code, ward_name, extra columns, then the attributes."""
    ctx = names.WardContext(
        wards.codes[ward_idx], wards.names[ward_idx], wards.full_names[ward_idx], wards.rural[ward_idx]
    )
    area = wards.area_km2[ward_idx]
    for key, spec in attributes.items():  # drawn first: templates may use them
        ctx.drawn[key] = names.values(spec, rng, ctx, area)
    columns: dict[str, Any] = {"name": names.render(name, rng, ctx)} if name else {}
    columns |= {"ward_code": ctx.codes, "ward_name": ctx.names, **(extra or {}), **ctx.drawn}
    return gpd.GeoDataFrame(columns, geometry=geometry, crs="EPSG:4326")


def gen_points(src: PointsSource, wards: Wards, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Points inside wards, shared by ``weight``."""
    p = src.params
    idx = wards.select(p.unit_types)
    x, y, ward = sample_points(wards, idx, _allocate(wards, idx, p.weight, src.count, rng), rng)
    return _frame(wards, ward, shapely.points(x, y), rng, name=p.name, attributes=p.attributes)


def gen_boundary_points(
    src: BoundaryPointsSource, wards: Wards, rng: np.random.Generator
) -> gpd.GeoDataFrame:
    """Markers on ward boundaries."""
    p = src.params
    idx = wards.select(p.unit_types)
    counts = _allocate(wards, idx, p.weight, src.count, rng)
    ward = np.repeat(idx, counts)
    lines = shapely.boundary(wards.geoms[ward])
    points = shapely.line_interpolate_point(lines, rng.random(len(ward)), normalized=True)
    return _frame(wards, ward, points, rng, name=p.name, attributes=p.attributes)


def gen_lines(src: LinesSource, wards: Wards, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Polylines starting inside wards: random walks, or grid-aligned streets turning at right angles."""
    p = src.params
    idx = wards.select(p.unit_types)
    grid_angle = rng.uniform(0, math.pi / 2, len(wards.codes))
    x0, y0, ward = sample_points(wards, idx, _allocate(wards, idx, p.weight, src.count, rng), rng)
    n, vmax = len(x0), p.vertices[1]
    nverts = rng.integers(p.vertices[0], vmax + 1, n)
    steps = rng.uniform(p.step_m[0], p.step_m[1], (n, vmax - 1))
    if p.pattern == "grid":
        turns = rng.integers(0, 4, (n, vmax - 1)) * (rng.random((n, vmax - 1)) < 0.25)
        quarter = (rng.integers(0, 4, n)[:, None] + np.cumsum(turns, axis=1)) * (math.pi / 2)
        theta = grid_angle[ward][:, None] + quarter + rng.normal(0, 0.03, (n, vmax - 1))
    else:
        theta = rng.uniform(0, 2 * math.pi, n)[:, None] + np.cumsum(rng.normal(0, 0.5, (n, vmax - 1)), axis=1)
    dx, dy = _deg(steps * np.cos(theta), steps * np.sin(theta), y0[:, None])
    xs = np.concatenate([x0[:, None], x0[:, None] + np.cumsum(dx, axis=1)], axis=1)
    ys = np.concatenate([y0[:, None], y0[:, None] + np.cumsum(dy, axis=1)], axis=1)
    mask = np.arange(vmax)[None, :] < nverts[:, None]
    coords = np.column_stack([xs[mask], ys[mask]])
    lines = shapely.linestrings(coords, indices=np.repeat(np.arange(n), nverts))
    return _frame(wards, ward, lines, rng, name=p.name, attributes=p.attributes)


def gen_polygons(src: PolygonsSource, wards: Wards, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Rotated rectangles or rounded blobs centred inside wards."""
    p = src.params
    idx = wards.select(p.unit_types)
    cx, cy, ward = sample_points(wards, idx, _allocate(wards, idx, p.weight, src.count, rng), rng)
    n = len(cx)
    width = rng.uniform(p.size_m[0], p.size_m[1], n)
    height = width * rng.uniform(p.aspect[0], p.aspect[1], n)
    angle = rng.uniform(0, math.pi, n)
    if p.shape == "rect":
        ux = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])
        uy = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])
    else:
        t = np.linspace(0, 2 * math.pi, 13)
        ux, uy = 0.5 * np.cos(t), 0.5 * np.sin(t)
    jitter = 1 + (0.12 * rng.standard_normal((n, len(ux))) if p.shape == "round" else np.zeros((n, len(ux))))
    jitter[:, -1] = jitter[:, 0]
    lx, ly = ux[None, :] * width[:, None] * jitter, uy[None, :] * height[:, None] * jitter
    rx = lx * np.cos(angle)[:, None] - ly * np.sin(angle)[:, None]
    ry = lx * np.sin(angle)[:, None] + ly * np.cos(angle)[:, None]
    dx, dy = _deg(rx, ry, cy[:, None])
    rings = np.stack([cx[:, None] + dx, cy[:, None] + dy], axis=-1)
    return _frame(wards, ward, shapely.polygons(rings), rng, name=p.name, attributes=p.attributes)


def gen_ward_areas(src: WardAreasSource, wards: Wards, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """The ward polygons themselves with synthetic per-ward attributes."""
    idx = wards.select(src.params.unit_types)[: src.count]
    return _frame(wards, idx, wards.geoms[idx], rng, name=None, attributes=src.params.attributes)


def gen_grid(src: GridSource, wards: Wards, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Square cells of ``cell_m`` whose centres fall inside the selected wards (at most ``count``)."""
    p = src.params
    minx, miny, maxx, maxy = shapely.total_bounds(wards.geoms[wards.select(p.unit_types)])
    step_y = p.cell_m / _M_PER_DEG_LAT
    step_x = p.cell_m / (_M_PER_DEG_LON_EQ * math.cos(math.radians((miny + maxy) / 2)))
    gx, gy = np.meshgrid(
        np.arange(minx, maxx, step_x) + step_x / 2, np.arange(miny, maxy, step_y) + step_y / 2
    )
    cx, cy = gx.ravel(), gy.ravel()
    ward = wards.locate(cx, cy)
    keep = ward >= 0 if not p.unit_types else np.isin(ward, wards.select(p.unit_types))
    cx, cy, ward = cx[keep][: src.count], cy[keep][: src.count], ward[keep][: src.count]
    cells = shapely.box(cx - step_x / 2, cy - step_y / 2, cx + step_x / 2, cy + step_y / 2)
    return _frame(wards, ward, cells, rng, name=p.name, attributes=p.attributes)


def _walk_routes(
    p: RouteParams, count: int, wards: Wards, rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Random walks of ``step_m`` steps that stay inside the wards; coordinates, start ward, length in m."""
    idx = wards.select(p.unit_types)
    x, y, ward = sample_points(wards, idx, _allocate(wards, idx, "urban", count, rng), rng)
    order = rng.permutation(len(x))
    x, y, ward = x[order], y[order], ward[order]
    nsteps = np.ceil(rng.uniform(p.length_km[0], p.length_km[1], count) * 1000 / p.step_m).astype(int)
    theta = rng.uniform(0, 2 * math.pi, count)
    path_x, path_y = [x.copy()], [y.copy()]
    active = np.ones(count, dtype=bool)
    length = np.zeros(count)
    for step in range(int(nsteps.max())):
        active &= step < nsteps
        pending = active.copy()
        for attempt in range(8):
            turn = rng.normal(0, p.turn, count) + (rng.uniform(-math.pi, math.pi, count) if attempt else 0)
            dx, dy = _deg(p.step_m * np.cos(theta + turn), p.step_m * np.sin(theta + turn), y)
            ok = np.zeros(count, dtype=bool)
            ok[pending] = wards.locate((x + dx)[pending], (y + dy)[pending]) >= 0
            x, y = np.where(ok, x + dx, x), np.where(ok, y + dy, y)
            theta = np.where(ok, theta + turn, theta)
            length += ok * p.step_m
            pending &= ~ok
            if not pending.any():
                break
        active &= ~pending
        path_x.append(x.copy())
        path_y.append(y.copy())
        if not active.any():
            break
    px, py = np.column_stack(path_x), np.column_stack(path_y)
    used = [np.flatnonzero(np.r_[True, (np.diff(px[i]) != 0) | (np.diff(py[i]) != 0)]) for i in range(count)]
    coords = [np.column_stack([px[i, u], py[i, u]]) for i, u in enumerate(used)]
    return coords, ward, length


def gen_routes(src: RoutesSource, wards: Wards, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Routes across the wards (bus lines, canals, trunk mains)."""
    p = src.params
    coords, ward, length = _walk_routes(p, src.count, wards, rng)
    keep = np.array([len(c) >= 2 for c in coords], dtype=bool)
    lines = np.array([shapely.linestrings(c) for c, k in zip(coords, keep, strict=True) if k], dtype=object)
    return _frame(wards, ward[keep], lines, rng, name=p.name, attributes=p.attributes,
                  extra={"length_km": np.round(length[keep] / 1000, 2)})  # fmt: skip


def gen_route_stops(src: StopsSource, wards: Wards, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Stops every ``spacing_m`` along the routes of ``routes`` (regenerated with their own seed)."""
    p = src.params
    routes = gen_routes(
        RoutesSource(generator="routes", params=p.routes, count=p.routes_count, seed=p.routes_seed),
        wards,
        np.random.default_rng(p.routes_seed),
    )
    nstops = np.maximum(2, np.floor(routes["length_km"].to_numpy() * 1000 / p.spacing_m).astype(int) + 1)
    route = np.repeat(np.arange(len(routes)), nstops)
    frac = np.concatenate([np.linspace(0, 1, k) for k in nstops])
    points = shapely.line_interpolate_point(routes.geometry.to_numpy()[route], frac, normalized=True)
    ward = wards.locate(shapely.get_x(points), shapely.get_y(points))
    order = np.concatenate([np.arange(1, k + 1) for k in nstops])
    keep = np.flatnonzero(ward >= 0)[: src.count]
    extra = {"route_name": routes["name"].to_numpy()[route[keep]], "stop_order": order[keep]}
    return _frame(wards, ward[keep], points[keep], rng, name=p.name, attributes=p.attributes, extra=extra)


_GENERATORS: dict[str, Callable[[Any, Wards, np.random.Generator], gpd.GeoDataFrame]] = {
    "points": gen_points,
    "boundary_points": gen_boundary_points,
    "lines": gen_lines,
    "polygons": gen_polygons,
    "ward_areas": gen_ward_areas,
    "grid": gen_grid,
    "routes": gen_routes,
    "route_stops": gen_route_stops,
}


def generate(source: GeneratorSource, sources_root: Path, *, count: int | None = None) -> gpd.GeoDataFrame:
    """Run a manifest's generator (``count`` overrides the manifest's, e.g. for quick previews)."""
    wards = load_wards(sources_root)
    src = source.model_copy(update={"count": count}) if count is not None else source
    return _GENERATORS[src.generator](src, wards, np.random.default_rng(src.seed))


def generator_checksum(source: GeneratorSource, sources_root: Path) -> str:
    """Hash of generator name, params, seed, count, generator version and the ward polygons file."""
    body = (
        source.model_dump_json(by_alias=True) + f"|v{GENERATOR_VERSION}|{load_wards(sources_root).checksum}"
    )
    return hashlib.sha256(body.encode()).hexdigest()
