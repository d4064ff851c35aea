"""Coordinate reference systems of uploads: parse what users and files say, VN-2000, reproject to WGS84.

VN-2000 (EPSG:4756 datum) shares the WGS84 ellipsoid; its shift to WGS84 is the 7-parameter
transformation published with the datum (Decision 83/2000/QĐ-TTg), used here for every VN-2000 CRS,
whether it comes from an EPSG code, a .prj (which usually carries no TOWGS84) or an alias. The
provincial TM-3 zones use scale factor 0.9999 and false easting 500 km; Ho Chi Minh City's central
meridian is 105°45'.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.crs import BoundCRS, ProjectedCRS
from pyproj.crs.coordinate_operation import ToWGS84Transformation, TransverseMercatorConversion
from pyproj.exceptions import CRSError as ProjCRSError

from gis_platform.ingest.errors import CrsError

WGS84 = CRS.from_epsg(4326)
VN2000_TOWGS84 = (
    -191.90441429, -39.30318279, -111.45032835, 0.00928836, -0.01975479, 0.00427372, 0.252906278,
)  # fmt: skip
HCMC_MERIDIAN = 105.75
#: Vietnam's extent used to spot a wrong CRS (lon 102..110, lat 8..24).
VIETNAM_BBOX = (102.0, 8.0, 110.0, 24.0)

_VN2000_NAMES = re.compile(r"vn[-_ ]?2000|vietnam[-_ ]?2000", re.IGNORECASE)
_TM3_ALIAS = re.compile(r"^vn-?2000[-_/ ]?(?:tm-?3|kttw?|ktt)[-_/ ]?(\d{3})(?:[.,](\d+)|[d°_ ](\d{1,2}))?$")
_UTM_ALIAS = re.compile(r"^vn-?2000[-_/ ]?utm[-_/ ]?(48|49)n?$")
#: Aliases of the HCMC zone, compared without spaces, dashes and underscores.
_HCMC_ALIASES = frozenset({"vn2000hcmc", "vn2000tphcm", "vn2000hcm", "vn2000hochiminh", "vn2000saigon"})


def vn2000_tm3(meridian: float) -> BoundCRS:
    """A VN-2000 provincial TM-3 zone (k = 0.9999, false easting 500 km) bound to WGS84."""
    degrees = int(meridian)
    minutes = round((meridian - degrees) * 60)
    projected = ProjectedCRS(
        name=f"VN-2000 / TM-3 {degrees}°{minutes:02d}'",
        geodetic_crs=CRS.from_epsg(4756),
        conversion=TransverseMercatorConversion(
            latitude_natural_origin=0, longitude_natural_origin=meridian, false_easting=500_000,
            false_northing=0, scale_factor_natural_origin=0.9999,
        ),
    )  # fmt: skip
    return _bind(projected)


def _bind(crs: CRS) -> BoundCRS:
    return BoundCRS(
        source_crs=crs,
        target_crs=WGS84,
        transformation=ToWGS84Transformation(crs.geodetic_crs or crs, *VN2000_TOWGS84),
    )


def is_vn2000(crs: CRS) -> bool:
    """True for CRSs on the VN-2000 datum (by EPSG code or by name, as .prj files spell it)."""
    geodetic = crs.geodetic_crs
    if geodetic is not None and geodetic.to_epsg(min_confidence=90) == 4756:
        return True
    names = [crs.name, geodetic.name if geodetic else "", crs.datum.name if crs.datum else ""]
    return any(_VN2000_NAMES.search(n or "") for n in names)


def parse_crs(spec: str, *, parameter: str = "crs") -> CRS:
    """Parse what a user gives: EPSG code, URN, alias (``VN2000-HCMC``, ``vn2000-tm3-105.75``), PROJ or WKT."""
    text = spec.strip()
    key = text.lower().replace(" ", "")
    if re.sub(r"[-_ ]", "", key) in _HCMC_ALIASES:
        return vn2000_tm3(HCMC_MERIDIAN)
    if match := _TM3_ALIAS.match(key):
        return vn2000_tm3(_meridian(match))
    if match := _UTM_ALIAS.match(key):
        return _bind(CRS.from_epsg(3405 if match.group(1) == "48" else 3406))
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        crs = CRS.from_user_input(text)
    except ProjCRSError:
        raise CrsError(
            f"Unknown CRS {spec!r}: give an EPSG code (EPSG:3405), an alias (VN2000-HCMC, "
            "vn2000-tm3-105.75, vn2000-utm48) or a PROJ/WKT definition.",
            parameter=parameter, crs=spec,
        ) from None  # fmt: skip
    return bind_if_vn2000(crs)


def _meridian(match: re.Match[str]) -> float:
    degrees = float(match.group(1))
    if match.group(2):  # decimal degrees: 105.75
        return float(f"{match.group(1)}.{match.group(2)}")
    if match.group(3):  # degrees and minutes: 105d45
        return degrees + float(match.group(3)) / 60
    return degrees


def bind_if_vn2000(crs: CRS) -> CRS:
    """Attach VN-2000's published shift to WGS84 unless the CRS already carries one."""
    if crs.is_bound or not is_vn2000(crs):
        return crs
    return _bind(crs)


def file_crs(definition: str | None) -> CRS | None:
    """The CRS a file declares (WKT, PROJJSON or ``EPSG:n`` from GDAL), or None."""
    if not definition:
        return None
    try:
        crs = CRS.from_user_input(definition)
    except ProjCRSError:
        return None
    return bind_if_vn2000(crs)


def label(crs: CRS) -> str:
    """A short name for messages and the catalogue: ``EPSG:n`` when there is one, else the CRS name."""
    source = crs.source_crs if isinstance(crs, BoundCRS) else crs
    code = source.to_epsg(min_confidence=90) if source is not None else None
    name = source.name if source is not None else crs.name
    return f"EPSG:{code} ({name})" if code else name


def is_wgs84(crs: CRS) -> bool:
    """True for plain longitude/latitude WGS84 (no reprojection needed)."""
    return not crs.is_bound and crs.is_geographic and crs.to_epsg(min_confidence=90) in (4326, 4979)


class Reprojector:
    """Reproject shapely geometries from ``crs`` to EPSG:4326 (x = longitude)."""

    def __init__(self, crs: CRS) -> None:
        self.crs = crs
        self.identity = is_wgs84(crs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._transformer = None if self.identity else Transformer.from_crs(crs, WGS84, always_xy=True)

    def __call__(self, geometries: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Return the geometries in EPSG:4326; points that do not project get infinite coordinates."""
        if self._transformer is None:
            return geometries
        transformer = self._transformer

        def project(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            x, y = transformer.transform(coords[:, 0], coords[:, 1], errcheck=False)
            return np.column_stack([x, y])

        projected: np.ndarray[Any, Any] = shapely.transform(geometries, project)
        return projected
