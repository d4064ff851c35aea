"""extensions and schemas

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMAS = ("catalogue", "layerdata", "admin", "stats")
EXTENSIONS = ("postgis", "unaccent", "pg_trgm", "btree_gist")


def upgrade() -> None:
    for ext in EXTENSIONS:
        op.execute(f'CREATE EXTENSION IF NOT EXISTS "{ext}"')
    for schema in SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    # unaccent() is only STABLE (it reads its dictionary), so it cannot back an index; this wrapper
    # pins the dictionary and is IMMUTABLE, the usual recipe for diacritic-insensitive indexes.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION public.f_unaccent(text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS public.f_unaccent(text)")
    for schema in reversed(SCHEMAS):
        op.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    # postgis and friends may be shared with other tools in an external database: only drop what we
    # can drop without cascading into foreign objects.
    for ext in ("btree_gist", "pg_trgm", "unaccent"):
        op.execute(f'DROP EXTENSION IF EXISTS "{ext}"')
