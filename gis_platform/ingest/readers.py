"""Open a staged dataset with GDAL (pyogrio) and stream it as Arrow record batches.

No format is parsed here by hand: GDAL reads every format; this module chooses the layer, the open
options and the text encoding handling, and turns GDAL's errors into problems that name the file.
"""

from __future__ import annotations

import csv
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyogrio
import pyogrio.core
import pyogrio.errors
from pyogrio.raw import open_arrow

from gis_platform.ingest import encoding as enc
from gis_platform.ingest.archive import Staged
from gis_platform.ingest.errors import IngestError, LayerChoiceError

#: Fields LIBKML adds to every layer for styling; they carry no data.
KML_STYLE_FIELDS = frozenset(
    {"altitudeMode", "tessellate", "extrude", "visibility", "drawOrder", "icon", "snippet"}
)
TEXT_FORMATS = frozenset({"csv", "geojson", "geojsonseq"})
SINGLE_LAYER = frozenset({"csv", "geojson", "geojsonseq", "shapefile", "flatgeobuf"})
_GDAL_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.CRSError,
    pyogrio.errors.FeatureError,
    OSError,
    ValueError,
)
_DUPLICATE_ID = re.compile(r"Several features with id = (\S+) have been found")


@dataclass
class Source:
    """A dataset opened for reading: where, which layer, how to decode it, what it declares."""

    staged: Staged
    path: Path
    layer: str | None
    fields: list[str]
    crs_definition: str | None
    feature_count: int | None
    geometry_type: str | None
    open_options: dict[str, str] = field(default_factory=dict)
    #: legacy encoding of values carried as Latin-1 characters (None: values are UTF-8 already)
    value_encoding: str | None = None
    encoding_label: str = enc.UTF8
    skip_fields: frozenset[str] = frozenset()
    prj_present: bool = False

    @property
    def format(self) -> str:
        """The dataset's format (geojson, shapefile, gpkg, csv …)."""
        return self.staged.format

    @property
    def name(self) -> str:
        """The file name used in messages."""
        return self.staged.name

    @property
    def tabular(self) -> bool:
        """True for CSV: geometry comes from columns, not from GDAL."""
        return self.staged.format == "csv"


def open_source(
    staged: Staged, workdir: Path, *, layer_name: str | None, encoding: str | None, max_columns: int = 1000
) -> Source:
    """Decide how to read ``staged``: text encoding, open options and the layer."""
    declared = enc.canonical_encoding(encoding)
    path = staged.path
    options: dict[str, str] = {}
    value_encoding: str | None = None
    label = declared or enc.UTF8
    prj = False
    if staged.format in TEXT_FORMATS:
        transcoded = workdir / f"utf8{path.suffix or '.txt'}"
        path, carried = enc.prepare_text_file(path, transcoded, declared, is_csv=staged.format == "csv")
        value_encoding = declared if carried else None
    elif staged.format == "shapefile":
        cpg = _sidecar(path, ".cpg")
        from_cpg = enc.canonical_encoding(cpg.read_text("latin-1").strip()) if cpg else None
        label = declared or from_cpg or enc.UTF8
        # GDAL passes the DBF's bytes through as Latin-1 characters; decoded here, strictly
        options["ENCODING"] = "ISO-8859-1"
        value_encoding = label
        prj = _sidecar(path, ".prj") is not None
    elif enc.is_legacy(declared):
        value_encoding = declared
    if staged.format == "csv":
        width = _csv_header_width(path)
        if width > max_columns:  # refused before GDAL reads a very wide file
            raise IngestError(
                f"The file has {width} attribute columns; at most {max_columns} are accepted.",
                file=staged.name, columns=width, limit=max_columns,
            )  # fmt: skip
        options.update(AUTODETECT_TYPE="YES", AUTODETECT_SIZE_LIMIT="0", EMPTY_STRING_AS_NULL="YES")
    elif staged.format in ("geojson", "geojsonseq"):
        options["ARRAY_AS_STRING"] = "YES"
    layer = _choose_layer(path, staged, layer_name)
    try:
        info = pyogrio.read_info(path, layer=layer, **options)
    except _GDAL_ERRORS as exc:
        raise unreadable(staged.name, exc) from None
    fields = [str(f) for f in info["fields"]]
    skip = KML_STYLE_FIELDS if staged.format in ("kml", "kmz") else frozenset()
    count = int(info["features"]) if info.get("features", -1) >= 0 else None
    return Source(
        staged=staged, path=path, layer=layer, fields=fields, crs_definition=info.get("crs"),
        feature_count=count, geometry_type=info.get("geometry_type"), open_options=options,
        value_encoding=value_encoding, encoding_label=label, skip_fields=frozenset(f for f in fields if f in skip),
        prj_present=prj,
    )  # fmt: skip


def _csv_header_width(path: Path) -> int:
    """How many columns a CSV's header names."""
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        header = f.readline(1 << 24)
    dialect = csv.Sniffer().sniff(header, delimiters=",;\t|") if header.strip() else csv.excel
    return len(next(csv.reader([header], dialect), []))


def _sidecar(path: Path, ext: str) -> Path | None:
    for candidate in path.parent.iterdir():
        if candidate.stem == path.stem and candidate.suffix.lower() == ext:
            return candidate
    return None


def _choose_layer(path: Path, staged: Staged, layer_name: str | None) -> str | None:
    if staged.format in SINGLE_LAYER and not layer_name:
        return None  # one layer: no need to open (and, for a CSV, scan) the file once more
    try:
        layers = pyogrio.list_layers(path)
    except _GDAL_ERRORS as exc:
        raise unreadable(staged.name, exc) from None
    names = [str(row[0]) for row in layers]
    spatial = [str(row[0]) for row in layers if row[1] is not None] or names
    if layer_name:
        if layer_name in names:
            return layer_name
        raise LayerChoiceError(
            f"The file has no layer {layer_name!r}; it has: {', '.join(names)}.",
            file=staged.name, layers=names, parameter="layer_name",
        )  # fmt: skip
    if len(spatial) <= 1:
        return spatial[0] if spatial else None
    non_empty = [n for n in spatial if _feature_count(path, n) != 0]
    if len(non_empty) == 1:
        return non_empty[0]
    raise LayerChoiceError(
        f"The file has {len(spatial)} layers; choose one with layer_name: {', '.join(spatial)}.",
        file=staged.name, layers=spatial, parameter="layer_name",
    )  # fmt: skip


def _feature_count(path: Path, layer: str) -> int:
    try:
        return int(pyogrio.read_info(path, layer=layer, force_feature_count=True)["features"])
    except _GDAL_ERRORS:
        return -1


#: GDAL messages that quote its own SQL (GeoPackage, SQLite) say nothing useful to the uploader.
_GDAL_SQL = re.compile(r"sqlite3_|\b(SELECT|INSERT|UPDATE|PRAGMA)\b")
_SERVER_PATH = re.compile(r"(?:/[\w.@+-]+){2,}")


def unreadable(name: str, exc: BaseException) -> IngestError:
    """The problem for a file GDAL cannot read (without GDAL's SQL or the server's paths)."""
    message = str(exc).split("; It might help", 1)[0].strip()
    if "not recognized as being in a supported file format" in message:
        message = "GDAL does not recognise the content"
    elif _GDAL_SQL.search(message):
        message = "the content is damaged or not in the format its name says"
    message = _SERVER_PATH.sub(name, message)
    return IngestError(f"The file cannot be read: {message}.", file=name)


@contextmanager
def batches(source: Source, batch_size: int) -> Iterator[_Batches]:
    """Stream ``source`` as Arrow record batches (WKB geometry in the column ``meta["geometry_name"]``)."""
    with GdalWarnings() as collector, ExitStack() as stack:
        try:
            meta, reader = stack.enter_context(
                open_arrow(
                    source.path, layer=source.layer, batch_size=batch_size, use_pyarrow=True,
                    read_geometry=not source.tabular, **source.open_options,
                )
            )  # fmt: skip
        except _GDAL_ERRORS as exc:
            raise unreadable(source.name, exc) from None
        yield _Batches(source, meta, reader, collector)


class _Batches:
    """The batches of one read, and what GDAL warned about while reading them."""

    def __init__(
        self, source: Source, meta: dict[str, Any], reader: pa.RecordBatchReader, warns: GdalWarnings
    ):
        self.source = source
        self.meta = meta
        self.reader = reader
        self.warnings = warns
        self.geometry_column = None if source.tabular else (meta.get("geometry_name") or "wkb_geometry")
        self.fid_column = meta.get("fid_column") or None

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the batches."""
        schema: pa.Schema = self.reader.schema
        return schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self.reader
        except (*_GDAL_ERRORS, pa.ArrowException) as exc:
            raise unreadable(self.source.name, exc) from None

    def duplicate_ids(self) -> list[str]:
        """Feature ids GDAL found more than once (it renumbers them, so only the ids are known)."""
        return [m.group(1) for m in map(_DUPLICATE_ID.search, self.warnings.messages) if m]


class GdalWarnings:
    """Collect GDAL's warnings (pyogrio turns them into Python warnings) for the current thread only.

    ``warnings.catch_warnings`` swaps process-wide state and is unsafe with ingest jobs running in
    several threads, so one hook is installed (lazily, and again if a test harness replaced it) that
    hands each warning to the collector of the thread that raised it.
    """

    _local = threading.local()
    _lock = threading.Lock()
    _original: Any = None

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __enter__(self) -> GdalWarnings:
        self._install()
        if not getattr(self._local, "gdal_handler", False):
            # pyogrio routes GDAL's messages to Python warnings through an error handler that GDAL keeps
            # per thread; pyogrio installs it in the importing thread only (private API, hence getattr)
            register = getattr(pyogrio.core, "_register_error_handler", None)
            if register is not None:
                register()
            self._local.gdal_handler = True
        self._local.collector = self
        return self

    def __exit__(self, *exc: object) -> None:
        self._local.collector = None

    @classmethod
    def _install(cls) -> None:
        with cls._lock:
            if warnings.showwarning is not cls._show:
                cls._original = warnings.showwarning
                warnings.showwarning = cls._show
            if not any(
                f[0] == "always" and f[1] and f[1].pattern == _DUPLICATE_ID.pattern for f in warnings.filters
            ):
                warnings.filterwarnings("always", message=_DUPLICATE_ID.pattern, category=RuntimeWarning)

    @classmethod
    def _show(cls, message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        collector = getattr(cls._local, "collector", None)
        if collector is not None and issubclass(category, RuntimeWarning):
            collector.messages.append(str(message))
            return
        if cls._original is not None:
            cls._original(message, category, *args, **kwargs)
