"""Alembic environment: the DSN comes from the platform settings (or the caller), never from an ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from gis_platform.db.urls import resolve_database_url, sqlalchemy_url

config = context.config
url = config.attributes.get("url") or resolve_database_url()


def run_migrations_offline() -> None:
    context.configure(url=sqlalchemy_url(url), literal_binds=True, version_table_schema="public")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, compare_type=True, version_table_schema="public")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
