"""The coordinate reference systems the features API serves (OGC API - Features Part 2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gis_platform.errors import InvalidParameter

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@dataclass(frozen=True)
class Crs:
    """A CRS the API can answer in: its URI, PostGIS SRID and axis order."""

    uri: str
    srid: int
    #: True when the CRS's first axis is latitude (EPSG:4326), so coordinates are swapped.
    lat_first: bool
    #: Decimal digits kept in output coordinates (degrees: 7 ≈ 1 cm; metres: 3 = 1 mm).
    digits: int
    title: str
    #: Where coordinates are meaningful, as (minx, miny, maxx, maxy) after any axis swap; outside it
    #: PROJ fails, so requests are checked against it first.
    domain: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0)

    @property
    def header(self) -> str:
        """The value of the ``Content-Crs`` header."""
        return f"<{self.uri}>"


CRS84 = Crs(CRS84_URI, 4326, False, 7, "WGS 84 longitude/latitude (CRS84)")
EPSG_4326 = Crs("http://www.opengis.net/def/crs/EPSG/0/4326", 4326, True, 7, "WGS 84 latitude/longitude")
EPSG_3857 = Crs(
    "http://www.opengis.net/def/crs/EPSG/0/3857", 3857, False, 3, "WGS 84 / Pseudo-Mercator",
    (-20037508.35, -20048966.11, 20037508.35, 20048966.11),
)  # fmt: skip
VN2000_UTM48 = Crs(
    "http://www.opengis.net/def/crs/EPSG/0/3405", 3405, False, 3, "VN-2000 / UTM zone 48N",
    (-1.0e7, -1.0e7, 1.0e7, 1.0e7),
)  # fmt: skip

SUPPORTED: tuple[Crs, ...] = (CRS84, EPSG_4326, EPSG_3857, VN2000_UTM48)
#: Where the data is stored: longitude/latitude on WGS 84, so CRS84 needs no transformation.
STORAGE = CRS84

_BY_URI = {c.uri: c for c in SUPPORTED}
_CURIE = re.compile(r"^\[?(EPSG|OGC):(?:[0-9.]*:)?([A-Za-z0-9]+)\]?$")
_URN = re.compile(r"^urn:ogc:def:crs:(EPSG|OGC):[0-9.]*:([A-Za-z0-9]+)$", re.IGNORECASE)


def uris() -> list[str]:
    """The URIs of every supported CRS, CRS84 first."""
    return [c.uri for c in SUPPORTED]


def parse_crs(value: str | None, parameter: str) -> Crs:
    """The CRS named by a URI (or ``EPSG:n`` / ``[EPSG:n]`` / URN); CRS84 when absent."""
    if value is None or not value.strip():
        return CRS84
    text = value.strip()
    uri = text.replace("https://", "http://", 1)
    found = _BY_URI.get(uri)
    if found is None:
        match = _CURIE.match(text) or _URN.match(text)
        if match:
            authority, code = match.group(1).upper(), match.group(2)
            uri = (
                CRS84_URI
                if authority == "OGC" and code.upper() == "CRS84"
                else (f"http://www.opengis.net/def/crs/{authority}/0/{code}")
            )
            found = _BY_URI.get(uri)
    if found is None:
        raise InvalidParameter(
            parameter,
            f"Unsupported {parameter} {value[:200]!r}; use one of: {', '.join(uris())}.",
            supported=uris(),
        )
    return found


def in_domain(crs: Crs, minx: float, miny: float, maxx: float, maxy: float) -> bool:
    """True when the box (x/y order) lies inside the CRS's domain."""
    dminx, dminy, dmaxx, dmaxy = crs.domain
    return dminx <= minx and dminy <= miny and maxx <= dmaxx and maxy <= dmaxy
