"""Builders of test upload files, generated in temp dirs (GDAL writes every format through pyogrio)."""

from __future__ import annotations

import json
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import Transformer

from gis_platform.ingest.crs import WGS84, parse_crs

NAMES = ["Phường Bến Nghé", "Phường Đa Kao", "Phường Bến Thành", "Phường Cầu Ông Lãnh", "Phường Tân Định"]
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def to_cp1258(text: str) -> bytes:
    """Encode as Windows-1258 does: precomposed base letters, combining tone marks."""
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        tones = "".join(c for c in parts if c in _TONES)
        out.append(unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES)) + tones)
    return "".join(out).encode("cp1258")


def frame(n: int = 5, *, seed: int = 1) -> gpd.GeoDataFrame:
    """``n`` points in central HCMC with Vietnamese names."""
    rng = np.random.default_rng(seed)
    xs, ys = rng.uniform(106.66, 106.72, n), rng.uniform(10.76, 10.80, n)
    return gpd.GeoDataFrame(
        {"ten": [NAMES[i % len(NAMES)] for i in range(n)], "so": np.arange(1, n + 1), "diem": rng.random(n)},
        geometry=shapely.points(xs, ys), crs=4326,
    )  # fmt: skip


def polygons(n: int = 4) -> gpd.GeoDataFrame:
    """Small squares in HCMC."""
    boxes = [shapely.box(106.70 + i * 0.01, 10.77, 106.705 + i * 0.01, 10.775) for i in range(n)]
    return gpd.GeoDataFrame(
        {"ten": NAMES[:n] if n <= 5 else [f"ô {i}" for i in range(n)]}, geometry=boxes, crs=4326
    )


def write(df: gpd.GeoDataFrame, path: Path, driver: str, **kwargs: Any) -> Path:
    pyogrio.write_dataframe(df, path, driver=driver, **kwargs)
    return path


def geojson_text(features: list[dict[str, Any]]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def feature(
    props: dict[str, Any], coords: Any = (106.7, 10.77), fid: Any = None, gtype: str = "Point"
) -> dict[str, Any]:
    f: dict[str, Any] = {
        "type": "Feature",
        "properties": props,
        "geometry": None if coords is None else {"type": gtype, "coordinates": coords},
    }
    if fid is not None:
        f["id"] = fid
    return f


def zip_dir(src: Path, dest: Path, *, skip: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(src.iterdir()):
            if f.suffix.lower() not in skip:
                zf.write(f, f.name)
    return dest


def shapefile_zip(
    tmp: Path,
    df: gpd.GeoDataFrame,
    *,
    name: str = "wards",
    encoding: str | None = "cp1258",
    skip: tuple[str, ...] = (),
    crs: Any = None,
) -> Path:
    folder = tmp / f"shp-{name}"
    folder.mkdir()
    write(
        df.to_crs(crs) if crs is not None else df,
        folder / f"{name}.shp",
        "ESRI Shapefile",
        **({"encoding": encoding} if encoding else {}),
    )
    return zip_dir(folder, tmp / f"{name}.zip", skip=skip)


def hcmc_tm3() -> Any:
    return parse_crs("VN2000-HCMC")


def to_tm3(lon: np.ndarray[Any, Any], lat: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    return Transformer.from_crs(WGS84, hcmc_tm3(), always_xy=True).transform(lon, lat)
