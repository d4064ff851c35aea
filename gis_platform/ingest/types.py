"""Value types shared by the ingest pipeline and its callers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Attribute types the platform stores, and their PostgreSQL spelling.
PG_TYPES = {
    "text": "text",
    "integer": "bigint",
    "double": "double precision",
    "boolean": "boolean",
    "date": "date",
    "datetime": "timestamptz",
}


@dataclass(frozen=True)
class Column:
    """One attribute column of a layer version: safe SQL name, original name, type."""

    name: str
    original: str
    type: str = "text"

    @property
    def pg_type(self) -> str:
        """The PostgreSQL type."""
        return PG_TYPES[self.type]

    def as_json(self) -> dict[str, str]:
        """The form kept in ``catalogue.layer_version.columns``."""
        return {"name": self.name, "original": self.original, "type": self.type}


@dataclass
class VersionInfo:
    """A layer version as the ingest pipeline reports it."""

    layer_id: int
    slug: str
    version: int
    table_name: str
    status: str
    version_id: int
    feature_count: int = 0
    bbox: list[float] | None = None
    geometry_type: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestOptions:
    """What the uploader says about the file."""

    layer_name: str | None = None
    crs: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class IngestProgress:
    """Where an import is: stage, rows read so far, rows in total when known, the version number."""

    stage: str
    rows_done: int = 0
    total: int | None = None
    version: int | None = None


ProgressFn = Callable[[IngestProgress], None]
