"""Errors of file ingest; each becomes a problem+json naming the file, row, feature or column it is about."""

from __future__ import annotations

from typing import Any

from gis_platform.errors import PlatformError


class IngestError(PlatformError):
    """A file the platform cannot load as it is (422): bad content, geometry or metadata.

    Extension members: ``file`` (the uploaded file's name, or the archive member), ``feature`` (1-based
    feature number in reading order), ``row`` (line of a CSV file, header = line 1), ``column`` (the
    attribute as named in the file), plus any detail such as ``features`` (a sample of numbers).
    """

    type = "invalid-file"
    title = "The file cannot be loaded"
    status = 422

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, **{k: v for k, v in extensions.items() if v is not None})

    def locate(self, file: str | None) -> IngestError:
        """Name ``file`` unless the error already names one."""
        if file and "file" not in self.extensions:
            self.extensions["file"] = file
        return self


class UnsupportedFormat(IngestError):
    """A file type the platform does not read (415)."""

    type = "unsupported-format"
    title = "Unsupported file format"
    status = 415


class UploadTooLarge(IngestError):
    """An upload or an archive's content over the configured limits (413)."""

    type = "upload-too-large"
    title = "Upload too large"
    status = 413


class ArchiveError(IngestError):
    """A zip that is corrupt, truncated, unsafe (zip slip) or incomplete (422)."""

    type = "invalid-archive"
    title = "Invalid archive"


class CrsError(IngestError):
    """A CRS that is missing, unknown or evidently wrong for the data (422)."""

    type = "invalid-crs"
    title = "Missing, unknown or wrong coordinate reference system"


class EncodingError(IngestError):
    """Text that is not in the declared (or default) encoding (422)."""

    type = "invalid-encoding"
    title = "Wrong text encoding"


class GeometryError(IngestError):
    """Coordinates or geometries that cannot be loaded (422)."""

    type = "invalid-geometry"
    title = "Invalid coordinates or geometry"


class LayerChoiceError(IngestError):
    """A multi-layer file without (or with a wrong) ``layer_name`` (422, lists the layers)."""

    type = "choose-layer"
    title = "Choose a layer of the file"


class LayerExists(PlatformError):
    """A new layer whose slug is taken (409)."""

    type = "layer-exists"
    title = "Layer exists"
    status = 409


class InvalidField(PlatformError):
    """A field of a request body that does not validate (422, like FastAPI's own validation)."""

    type = "invalid-parameter"
    title = "Invalid parameter"
    status = 422

    def __init__(self, parameter: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail, parameter=parameter, **extensions)


class VersionConflict(PlatformError):
    """A publish or rollback that the version's state does not allow."""

    type = "version-conflict"
    title = "Version conflict"
    status = 409
