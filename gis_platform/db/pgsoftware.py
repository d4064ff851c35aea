"""The PostgreSQL software the private cluster needs: server binaries, their version, PostGIS and contrib."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

#: Extensions created in every database the cluster makes (unless it is cloned from a template).
EXTENSIONS: tuple[str, ...] = ("postgis", "unaccent", "pg_trgm", "btree_gist")

PG_ROOT = Path("/usr/lib/postgresql")
SHARE_ROOT = Path("/usr/share/postgresql")
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
_INSTALL = "apt-get install postgresql-15 postgresql-15-postgis-3"


class ClusterError(Exception):
    """The private cluster cannot be set up, started or used; the message says how to fix it."""


def is_executable(path: Path) -> bool:
    """True for an executable regular file."""
    return path.is_file() and os.access(path, os.X_OK)


def has_binaries(bin_dir: Path) -> bool:
    """True if ``bin_dir`` holds initdb, pg_ctl and postgres."""
    return all(is_executable(bin_dir / name) for name in REQUIRED_BINARIES)


def find_pg_bin_dir(preferred_major: int | None = None) -> Path:
    """Return the newest ``/usr/lib/postgresql/N/bin`` holding ``initdb`` (``preferred_major`` first)."""
    candidates: dict[int, Path] = {}
    if PG_ROOT.is_dir():
        for entry in PG_ROOT.iterdir():
            bin_dir = entry / "bin"
            if entry.name.isdigit() and has_binaries(bin_dir):
                candidates[int(entry.name)] = bin_dir
    if preferred_major is not None and preferred_major in candidates:
        return candidates[preferred_major]
    if candidates:
        newest = max(candidates)
        if preferred_major is not None:
            logger.warning("PostgreSQL %s binaries not found; using version %s", preferred_major, newest)
        return candidates[newest]
    on_path = shutil.which("initdb")
    if on_path is not None and has_binaries(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    raise ClusterError(
        f"No PostgreSQL server binaries (initdb, pg_ctl, postgres) found under {PG_ROOT}/N/bin or on PATH. "
        f"Install them with `{_INSTALL}` (or `make install`), "
        "or point pg_bin_dir (GIS_DB__PG_BIN_DIR) at the directory holding initdb."
    )


def check_bin_dir(bin_dir: Path) -> None:
    """Raise :class:`ClusterError` naming what ``bin_dir`` lacks."""
    if not has_binaries(bin_dir):
        missing = [name for name in REQUIRED_BINARIES if not is_executable(bin_dir / name)]
        raise ClusterError(
            f"No PostgreSQL server binaries in {bin_dir} (missing: {', '.join(missing)}). "
            f"Install them with `{_INSTALL}` (or `make install`), or fix pg_bin_dir (GIS_DB__PG_BIN_DIR)."
        )


def server_major(bin_dir: Path) -> int:
    """The major version of the server in ``bin_dir`` (``postgres --version``)."""
    try:
        result = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise ClusterError(f"Cannot run {bin_dir / 'postgres'} ({exc}); reinstall postgresql-15.") from exc
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", result.stdout)
    if match is None:
        raise ClusterError(
            f"Cannot tell the PostgreSQL version from `{bin_dir / 'postgres'} --version` "
            f"({result.stdout.strip() or result.stderr.strip()}); check pg_bin_dir."
        )
    return int(match.group(1))


def share_dir(bin_dir: Path, major: int | None) -> Path:
    """The server's share directory (where ``extension/*.control`` live)."""
    candidates = [SHARE_ROOT / str(major), bin_dir.parent / "share" / "postgresql", bin_dir.parent / "share"]
    for candidate in candidates:
        if (candidate / "extension" / "plpgsql.control").is_file():
            return candidate
    return candidates[0]


def check_extensions_available(share: Path, major: int | None) -> None:
    """Raise :class:`ClusterError` naming the Debian package when PostGIS or a contrib extension is missing."""
    ext_dir = share / "extension"
    if not (ext_dir / "postgis.control").is_file():
        raise ClusterError(
            f"PostGIS is not installed for PostgreSQL {major} ({ext_dir / 'postgis.control'} missing). "
            f"Install it with `apt-get install postgresql-{major}-postgis-3` (or `make install`)."
        )
    missing = [ext for ext in EXTENSIONS if not (ext_dir / f"{ext}.control").is_file()]
    if missing:
        raise ClusterError(
            f"PostgreSQL extensions {', '.join(missing)} are missing from {ext_dir}. They ship with the "
            f"server's contrib modules: `apt-get install postgresql-{major}` (or `make install`)."
        )


def has_c_utf8_locale() -> bool:
    """True if the C.UTF-8 locale exists (initdb's preferred locale)."""
    try:
        result = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return Path("/usr/lib/locale/C.utf8").exists() or Path("/usr/lib/locale/C.UTF-8").exists()
    names = {line.strip().lower().replace("-", "") for line in result.stdout.splitlines()}
    return "c.utf8" in names


def output(result: subprocess.CompletedProcess[str]) -> str:
    """The useful end of a command's output, for error messages."""
    return (result.stderr.strip() or result.stdout.strip() or "(no output)")[-2000:]
