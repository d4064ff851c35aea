"""Staging of uploads: a private temp dir per import, size limits, format sniffing and safe unzipping."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, Self

from gis_platform.ingest.errors import (
    ArchiveError,
    IngestError,
    LayerChoiceError,
    UnsupportedFormat,
    UploadTooLarge,
)
from gis_platform.settings import IngestSettings

logger = logging.getLogger(__name__)

MB = 1024 * 1024
_PREFIX = "gis-ingest-"
_LOCK = ".lock"
_CHUNK = 1 << 20
_MAX_MEMBERS = 10_000
#: Members below this size cannot make a zip bomb, whatever their compression ratio.
_RATIO_FLOOR = MB

#: Extensions of the formats read from disk (after unzipping), by format.
EXTENSIONS = {
    ".geojson": "geojson", ".json": "geojson",
    ".geojsonl": "geojsonseq", ".geojsons": "geojsonseq", ".geojsonseq": "geojsonseq", ".jsonl": "geojsonseq",
    ".ndjson": "geojsonseq",
    ".shp": "shapefile", ".gpkg": "gpkg", ".kml": "kml", ".kmz": "kmz", ".fgb": "flatgeobuf",
    ".csv": "csv", ".tsv": "csv",
}  # fmt: skip
SUPPORTED = "GeoJSON, GeoJSONSeq, zipped Shapefile, GeoPackage, KML/KMZ, FlatGeobuf or CSV"


@dataclass(frozen=True)
class Limits:
    """Upload and archive limits in bytes."""

    max_upload: int
    max_uncompressed: int
    max_ratio: float

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> Limits:
        """Limits of the given settings."""
        return cls(
            max_upload=int(settings.max_upload_mb * MB),
            max_uncompressed=int(settings.max_uncompressed_mb * MB),
            max_ratio=settings.max_compression_ratio,
        )


def staging_root(settings: IngestSettings) -> Path:
    """The directory staging dirs are made in (created if missing)."""
    root = settings.staging_dir or Path(tempfile.gettempdir()) / "gis-platform-ingest"
    root.mkdir(parents=True, exist_ok=True)
    return root


class Staging:
    """A private temp dir for one import, always removed; a held ``flock`` marks it as in use."""

    def __init__(self, root: Path, name: str | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{name + '-' if name else ''}", dir=root))
        self._lock: IO[bytes] | None = (self.path / _LOCK).open("wb")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Remove the directory and everything in it (idempotent)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        shutil.rmtree(self.path, ignore_errors=True)


def sweep_stale(root: Path) -> int:
    """Remove staging dirs whose owner died (nobody holds their lock); return how many."""
    removed = 0
    if not root.is_dir():
        return 0
    for path in root.glob(f"{_PREFIX}*"):
        lock = path / _LOCK
        try:
            with lock.open("rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live import
        except OSError:
            pass  # no lock file: a half-created dir
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    if removed:
        logger.warning("removed %d abandoned ingest staging dirs under %s", removed, root)
    return removed


def save_stream(source: IO[bytes], target: Path, *, max_bytes: int | None, name: str) -> tuple[int, str]:
    """Copy an upload to ``target`` with a size limit; return its size and sha256."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise UploadTooLarge(
                    f"The upload is larger than the limit of {max_bytes / MB:g} MB.", file=name,
                    limit_mb=round(max_bytes / MB, 3),
                )  # fmt: skip
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def checksum(path: Path) -> str:
    """The sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Staged:
    """One dataset ready for GDAL: the file to open, its format, and how to name it in messages."""

    path: Path
    format: str
    name: str
    archive_members: list[str] = field(default_factory=list)


def sniff(path: Path, name: str, workdir: Path, limits: Limits, *, layer_name: str | None = None) -> Staged:
    """Find what ``path`` holds; unzip archives (safely) into ``workdir``."""
    size = path.stat().st_size
    if size == 0:
        raise IngestError("The file is empty.", file=name)
    with path.open("rb") as f:
        head = f.read(8192)
    ext = PurePosixPath(name.lower()).suffix
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")) or ext in (".zip", ".kmz"):
        if ext == ".kmz":
            members = check_zip(path, name, limits)
            if not any(m.lower().endswith(".kml") for m in members):
                raise ArchiveError("The KMZ holds no .kml document.", file=name)
            return Staged(path, "kmz", name, members)
        return _from_archive(path, name, workdir, limits, layer_name)
    fmt = _sniff_content(head, ext)
    if fmt is None:
        if ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            raise UnsupportedFormat(
                "Upload a Shapefile as one .zip holding its .shp, .shx, .dbf (and .prj, .cpg).", file=name
            )
        raise UnsupportedFormat(f"Unsupported file format; upload {SUPPORTED}.", file=name)
    return Staged(path, fmt, name)


def _sniff_content(head: bytes, ext: str) -> str | None:
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"fgb\x03"):
        return "flatgeobuf"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"\x1e"):
        return "geojsonseq"
    if text.startswith(b"{"):
        if ext in (".geojsonl", ".geojsons", ".geojsonseq", ".jsonl", ".ndjson"):
            return "geojsonseq"
        return "geojsonseq" if _first_line_is_feature(text) else "geojson"
    if text.startswith(b"<"):
        return "kml" if b"<kml" in head else None
    if ext in (".csv", ".tsv", ".txt") and b"\x00" not in head:
        return "csv"
    return None


def _first_line_is_feature(text: bytes) -> bool:
    line, sep, rest = text.partition(b"\n")
    if not sep or not rest.strip().startswith(b"{"):
        return False
    try:
        first = json.loads(line)
    except ValueError:
        return False
    return isinstance(first, dict) and first.get("type") == "Feature"


def check_zip(path: Path, name: str, limits: Limits) -> list[str]:
    """Refuse corrupt archives, zip slip, symlinks and zip bombs; return the member names."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(f"The archive is corrupt or truncated ({exc}).", file=name) from None
    if not infos:
        raise ArchiveError("The archive is empty.", file=name)
    if len(infos) > _MAX_MEMBERS:
        raise ArchiveError(f"The archive has more than {_MAX_MEMBERS} members.", file=name)
    total = 0
    for info in infos:
        _check_member_name(info, name)
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR and ratio > limits.max_ratio:
            raise UploadTooLarge(
                f"Archive member {info.filename!r} inflates {ratio:.0f}-fold (limit {limits.max_ratio:g}): "
                "refused as a possible zip bomb.",
                file=name, member=info.filename,
            )  # fmt: skip
    if total > limits.max_uncompressed:
        raise UploadTooLarge(
            f"The archive expands to {total / MB:.1f} MB, over the limit of {limits.max_uncompressed / MB:g} MB.",
            file=name,
        )
    return [i.filename for i in infos if not i.is_dir()]


def _check_member_name(info: zipfile.ZipInfo, name: str) -> None:
    member = info.filename
    parts = PurePosixPath(member.replace("\\", "/")).parts
    if member.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member) or ".." in parts:
        raise ArchiveError(
            f"Archive member {member!r} points outside the archive (zip slip); refused.",
            file=name, member=member,
        )  # fmt: skip
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise ArchiveError(
            f"Archive member {member!r} is a symbolic link; refused.", file=name, member=member
        )


def extract(path: Path, name: str, dest: Path, limits: Limits) -> list[Path]:
    """Unzip after :func:`check_zip`, counting the bytes actually written; return the files."""
    check_zip(path, name, limits)
    dest.mkdir(parents=True, exist_ok=True)
    written = 0
    files: list[Path] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir() or _junk(info.filename):
                    continue
                target = dest.joinpath(*PurePosixPath(info.filename.replace("\\", "/")).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > limits.max_uncompressed:
                            raise UploadTooLarge("The archive expands beyond the size limit.", file=name)
                        out.write(chunk)
                files.append(target)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise ArchiveError(f"The archive is corrupt or truncated ({exc}).", file=name) from None
    return files


def _junk(member: str) -> bool:
    base = PurePosixPath(member).name
    return member.startswith("__MACOSX/") or base.startswith("._") or base in (".DS_Store", "Thumbs.db")


def _from_archive(path: Path, name: str, workdir: Path, limits: Limits, layer_name: str | None) -> Staged:
    root = workdir / "unzipped"
    files = extract(path, name, root, limits)
    by_stem: dict[str, dict[str, Path]] = {}
    for f in files:
        by_stem.setdefault(str(f.with_suffix("")).lower(), {})[f.suffix.lower()] = f
    candidates: list[tuple[str, Path]] = []
    for parts in by_stem.values():
        if ".shp" in parts:
            missing = [e for e in (".shx", ".dbf") if e not in parts]
            if missing:
                member = parts[".shp"].relative_to(root).as_posix()
                raise ArchiveError(
                    f"The Shapefile {member!r} lacks its {' and '.join(missing)} part; zip .shp, .shx and .dbf "
                    "(and .prj, .cpg) together.",
                    file=name, member=member, missing=missing,
                )  # fmt: skip
        for ext, f in parts.items():
            if ext in EXTENSIONS and EXTENSIONS[ext] != "kmz":
                candidates.append((EXTENSIONS[ext], f))
    if not candidates:
        stray = sorted(e for p in by_stem.values() for e in p if e in (".dbf", ".shx"))
        if stray:
            raise ArchiveError(
                "The archive has Shapefile parts but no .shp file.", file=name, missing=[".shp"]
            )
        if any(f.suffix.lower() in (".zip", ".kmz") for f in files):
            raise UnsupportedFormat("Archives inside archives are not supported; upload one zip.", file=name)
        raise UnsupportedFormat(f"The archive holds no supported file; zip {SUPPORTED}.", file=name)
    members = [f.relative_to(root).as_posix() for _, f in candidates]
    if len(candidates) > 1:
        chosen = [c for c in candidates if layer_name and c[1].stem == layer_name]
        if len(chosen) != 1:
            raise LayerChoiceError(
                f"The archive holds {len(candidates)} datasets; choose one with layer_name: "
                f"{', '.join(sorted(c[1].stem for c in candidates))}.",
                file=name, layers=sorted(c[1].stem for c in candidates), parameter="layer_name",
            )  # fmt: skip
        candidates = chosen
    fmt, f = candidates[0]
    return Staged(f, fmt, f"{name}/{f.relative_to(root).as_posix()}", members)


def remove_quietly(path: Path) -> None:
    """Delete a file if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
