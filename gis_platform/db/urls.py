"""Resolve which database the platform talks to: ``DATABASE_URL`` or the private cluster."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from gis_platform.db.cluster import LocalCluster
from gis_platform.settings import Settings, get_settings


def local_cluster(settings: Settings) -> LocalCluster:
    """Build the private cluster manager from settings."""
    return LocalCluster(
        settings.data_dir,
        preferred_port=settings.db.preferred_port,
        os_user=settings.db.os_user,
        database=settings.db.database,
        superuser=settings.db.superuser,
        pg_bin_dir=settings.db.pg_bin_dir,
    )


def resolve_database_url(settings: Settings | None = None, *, start: bool = False) -> str:
    """Return a libpq URL for the configured database.

    With ``DATABASE_URL`` set that URL is returned as given; otherwise the private cluster's, which
    is started first when ``start`` is true.
    """
    settings = settings or get_settings()
    if settings.database_url is not None:
        return plain_url(settings.database_url.get_secret_value())
    cluster = local_cluster(settings)
    if start:
        cluster.up()
    return cluster.url()


def plain_url(url: str) -> str:
    """Normalise SQLAlchemy-style driver URLs (``postgresql+psycopg://``) to libpq's ``postgresql://``."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return urlunsplit((scheme, *parts[1:]))


def sqlalchemy_url(url: str) -> str:
    """Return the URL with the psycopg 3 driver, for SQLAlchemy and Alembic."""
    parts = urlsplit(plain_url(url))
    return urlunsplit(("postgresql+psycopg", *parts[1:]))


def redact(url: str) -> str:
    """Hide the password of a URL for logs and status output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, *parts[2:]))
