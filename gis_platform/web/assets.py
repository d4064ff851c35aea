"""Build step: vendor the browser libraries from ``node_modules`` into the package's static files.

``python -m gis_platform.web.assets`` (run by ``make install`` after ``npm ci``) copies MapLibre GL JS
(the CSP build, its worker and CSS) and Leaflet (inlined by ``gis-platform map export``) into
``gis_platform/web/static/vendor/<package>/<version>/`` and writes a pre-compressed ``.gz`` beside every
text file. The version in the path makes the URLs immutable, so the app serves them with a one-year cache.
The vendor directory is generated (git-ignored); the map route answers 503 until it exists.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from gis_platform.errors import PlatformError
from gis_platform.settings import REPO_ROOT

logger = logging.getLogger(__name__)

STATIC_ROOT = Path(__file__).resolve().parent / "static"
VENDOR_ROOT = STATIC_ROOT / "vendor"
MANIFEST = "manifest.json"

#: Files taken from each npm package (paths inside the package); they keep only their base name.
PACKAGES: dict[str, tuple[str, ...]] = {
    "maplibre-gl": (
        "dist/maplibre-gl-csp.js",
        "dist/maplibre-gl-csp-worker.js",
        "dist/maplibre-gl.css",
        "LICENSE.txt",
    ),
    "swagger-ui-dist": ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"),
    "leaflet": (
        "dist/leaflet.js",
        "dist/leaflet.css",
        "dist/images/layers.png",
        "dist/images/layers-2x.png",
        "dist/images/marker-icon.png",
        "dist/images/marker-icon-2x.png",
        "dist/images/marker-shadow.png",
        "LICENSE",
    ),
}

#: Suffixes worth compressing (images are already compressed).
COMPRESSIBLE = frozenset({".js", ".mjs", ".css", ".json", ".html", ".svg", ".txt", ".map", ""})


class AssetsMissing(PlatformError):
    """The vendored browser libraries were not built (``make install`` runs the build)."""

    type = "assets-missing"
    title = "Map assets missing"
    status = 503


@dataclass(frozen=True)
class VendorPackage:
    """One vendored package: its version and the URL path of its folder under ``/static``."""

    name: str
    version: str

    @property
    def url_path(self) -> str:
        """``vendor/<name>/<version>`` (relative to ``/static/``)."""
        return f"vendor/{self.name}/{self.version}"

    def path(self, vendor_root: Path = VENDOR_ROOT) -> Path:
        """The folder on disk."""
        return vendor_root / self.name / self.version


def read_manifest(vendor_root: Path = VENDOR_ROOT) -> dict[str, str]:
    """``{package: version}`` of the last build, or ``{}`` when nothing was built."""
    try:
        data = json.loads((vendor_root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def vendored(name: str, required: tuple[str, ...] = (), vendor_root: Path = VENDOR_ROOT) -> VendorPackage:
    """The built package ``name`` with every ``required`` file present, else :class:`AssetsMissing`."""
    version = read_manifest(vendor_root).get(name)
    if version:
        package = VendorPackage(name, version)
        if all((package.path(vendor_root) / f).is_file() for f in required):
            return package
    raise AssetsMissing(
        f"The browser library {name!r} is not installed in the package's static files; "
        "run `make install` (npm ci, then python -m gis_platform.web.assets).",
        package=name,
    )


def _compress(path: Path) -> None:
    data = path.read_bytes()
    # mtime=0 keeps the .gz byte-identical across builds (reproducible, cache-friendly).
    path.with_name(path.name + ".gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))


def build(node_modules: Path, vendor_root: Path = VENDOR_ROOT) -> dict[str, str]:
    """Copy every package of :data:`PACKAGES` from ``node_modules``; return ``{package: version}``."""
    versions: dict[str, str] = {}
    for name, files in PACKAGES.items():
        source = node_modules / name
        try:
            meta = json.loads((source / "package.json").read_text(encoding="utf-8"))
        except OSError as exc:
            raise FileNotFoundError(f"{source} is missing: run `npm ci` in the repository root") from exc
        version = str(meta["version"])
        target = vendor_root / name / version
        # Older versions are removed: exactly one version of each library ships.
        if (vendor_root / name).is_dir():
            for old in (vendor_root / name).iterdir():
                if old.name != version:
                    shutil.rmtree(old, ignore_errors=True)
        target.mkdir(parents=True, exist_ok=True)
        for rel in files:
            dest = target / Path(rel).name
            if rel.startswith("dist/images/"):
                dest = target / "images" / Path(rel).name
                dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(source / rel, dest)
            if dest.suffix in COMPRESSIBLE:
                _compress(dest)
        versions[name] = version
        logger.info("vendored %s %s into %s", name, version, target)
    vendor_root.mkdir(parents=True, exist_ok=True)
    (vendor_root / MANIFEST).write_text(
        json.dumps(versions, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return versions


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``python -m gis_platform.web.assets [--node-modules DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--node-modules", type=Path, default=REPO_ROOT / "node_modules")
    parser.add_argument(
        "--out", type=Path, default=VENDOR_ROOT, help="vendor folder (default: the package's)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        versions = build(args.node_modules, args.out)
    except FileNotFoundError as exc:
        logger.error("%s", exc)
        return 1
    logger.info("browser assets: %s", ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
