"""catalogue: categories, layers, versions, ingest jobs, tokens, audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE catalogue.category (
            id text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{0,62}$'),
            title_vi text NOT NULL,
            title_en text NOT NULL,
            sort_order int NOT NULL DEFAULT 0
        )
        """
    )
    op.execute(
        """
        CREATE TABLE catalogue.layer (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{1,62}$'),
            title_vi text NOT NULL,
            title_en text NOT NULL,
            description_vi text NOT NULL DEFAULT '',
            description_en text NOT NULL DEFAULT '',
            category text NOT NULL REFERENCES catalogue.category(id),
            agency text NOT NULL,
            licence text NOT NULL,
            attribution text NOT NULL,
            keywords text[] NOT NULL DEFAULT '{}',
            update_frequency text NOT NULL DEFAULT 'irregular',
            geometry_type text NOT NULL
                CHECK (geometry_type IN ('Point', 'LineString', 'Polygon', 'MultiPoint', 'MultiLineString',
                                         'MultiPolygon', 'Geometry')),
            visibility text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'internal')),
            synthetic boolean NOT NULL DEFAULT false,
            current_version int,
            style jsonb,
            tile_settings jsonb NOT NULL DEFAULT '{}'::jsonb,
            attribute_schema jsonb NOT NULL DEFAULT '[]'::jsonb,
            source jsonb NOT NULL DEFAULT '{}'::jsonb,
            manifest_checksum text,
            managed_by text NOT NULL DEFAULT 'manifest' CHECK (managed_by IN ('manifest', 'api')),
            -- diacritic-free text of titles, keywords, agency and category, for search
            search_text text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX layer_category_ix ON catalogue.layer (category)")
    op.execute("CREATE INDEX layer_search_trgm ON catalogue.layer USING gin (search_text gin_trgm_ops)")
    op.execute(
        """
        CREATE TABLE catalogue.layer_version (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            layer_id bigint NOT NULL REFERENCES catalogue.layer(id) ON DELETE CASCADE,
            version int NOT NULL CHECK (version > 0),
            table_name text NOT NULL UNIQUE,
            status text NOT NULL DEFAULT 'loading'
                CHECK (status IN ('loading', 'validated', 'published', 'superseded', 'failed')),
            feature_count bigint,
            bbox double precision[] CHECK (bbox IS NULL OR cardinality(bbox) = 4),
            geometry_type text,
            columns jsonb NOT NULL DEFAULT '[]'::jsonb,
            checksum text,
            source_filename text,
            source_format text,
            source_crs text,
            validation_report jsonb NOT NULL DEFAULT '{}'::jsonb,
            error text,
            author text,
            created_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz,
            UNIQUE (layer_id, version)
        )
        """
    )
    op.execute(
        """
        ALTER TABLE catalogue.layer ADD CONSTRAINT layer_current_version_fk
            FOREIGN KEY (id, current_version) REFERENCES catalogue.layer_version(layer_id, version)
            DEFERRABLE INITIALLY DEFERRED
        """
    )
    op.execute(
        """
        CREATE TABLE catalogue.ingest_job (
            id uuid PRIMARY KEY,
            layer_id bigint NOT NULL REFERENCES catalogue.layer(id) ON DELETE CASCADE,
            version int,
            status text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
            stage text,
            progress double precision NOT NULL DEFAULT 0,
            rows_done bigint NOT NULL DEFAULT 0,
            publish boolean NOT NULL DEFAULT false,
            report jsonb NOT NULL DEFAULT '{}'::jsonb,
            error jsonb,
            author text,
            pid int,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE catalogue.api_token (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL,
            role text NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
            token_hash text NOT NULL UNIQUE,
            prefix text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz,
            revoked_at timestamptz
        )
        """
    )
    op.execute(
        """
        CREATE TABLE catalogue.audit_log (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            actor text NOT NULL,
            action text NOT NULL,
            layer_slug text,
            version_before int,
            version_after int,
            details jsonb NOT NULL DEFAULT '{}'::jsonb
        )
        """
    )


def downgrade() -> None:
    for table in ("audit_log", "api_token", "ingest_job"):
        op.execute(f"DROP TABLE IF EXISTS catalogue.{table}")
    op.execute("ALTER TABLE IF EXISTS catalogue.layer DROP CONSTRAINT IF EXISTS layer_current_version_fk")
    op.execute("DROP TABLE IF EXISTS catalogue.layer_version")
    op.execute("DROP TABLE IF EXISTS catalogue.layer")
    op.execute("DROP TABLE IF EXISTS catalogue.category")
    # the per-version data tables live in layerdata and belong to the catalogue rows just dropped
    op.execute("DROP SCHEMA IF EXISTS layerdata CASCADE")
    op.execute("CREATE SCHEMA layerdata")
