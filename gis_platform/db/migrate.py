"""Run the Alembic migrations in ``migrations/`` programmatically."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from gis_platform.settings import get_settings


def alembic_config(url: str, migrations_dir: Path | None = None) -> Config:
    """Build an Alembic config for ``url`` without an ini file."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir or get_settings().migrations_dir))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` removes everything)."""
    command.downgrade(alembic_config(url), revision)


def head_revision(migrations_dir: Path | None = None) -> str | None:
    """Return the newest revision in the migrations directory."""
    script = ScriptDirectory.from_config(alembic_config("", migrations_dir))
    return script.get_current_head()


def current_revision(url: str) -> str | None:
    """Return the revision the database is at, or None before the first migration."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute("SELECT version_num FROM public.alembic_version").fetchone()
        return str(row[0]) if row else None
