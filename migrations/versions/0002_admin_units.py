"""admin units, boundary versions and the raw crosswalk

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE admin.boundary_version (
            id text PRIMARY KEY,
            title text NOT NULL,
            level text NOT NULL,
            valid_from date NOT NULL,
            valid_to date,
            geometry_quality text,
            source text NOT NULL,
            source_url text,
            licence text NOT NULL,
            attribution text NOT NULL,
            checksum text,
            loaded_at timestamptz NOT NULL DEFAULT now(),
            CHECK (valid_to IS NULL OR valid_to >= valid_from)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE admin.admin_unit (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            boundary_version text NOT NULL REFERENCES admin.boundary_version(id) ON DELETE CASCADE,
            code text NOT NULL,
            level text NOT NULL CHECK (level IN ('city', 'district', 'ward', 'neighbourhood', 'residential_group')),
            unit_type text,
            name_vi text NOT NULL,
            full_name_vi text,
            name_ascii text NOT NULL,
            name_en text,
            full_name_en text,
            parent_code text,
            parent_id bigint REFERENCES admin.admin_unit(id) ON DELETE SET NULL,
            valid_from date NOT NULL,
            valid_to date,
            geom geometry(MultiPolygon, 4326),
            geom_quality text CHECK (geom_quality IN ('official', 'approximate', 'synthetic', 'derived')),
            area_km2 double precision
                GENERATED ALWAYS AS (ST_Area(geom::geography, true) / 1e6) STORED,
            area_km2_official double precision,
            attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
            CHECK (valid_to IS NULL OR valid_to >= valid_from),
            CONSTRAINT admin_unit_version_code_key UNIQUE (boundary_version, level, code),
            CONSTRAINT admin_unit_no_overlap EXCLUDE USING gist (
                level WITH =, code WITH =, daterange(valid_from, valid_to, '[]') WITH &&
            )
        )
        """
    )
    op.execute("CREATE INDEX admin_unit_geom_gix ON admin.admin_unit USING gist (geom)")
    op.execute("CREATE INDEX admin_unit_validity_ix ON admin.admin_unit (level, valid_from, valid_to)")
    op.execute("CREATE INDEX admin_unit_parent_ix ON admin.admin_unit (parent_id)")
    op.execute("CREATE INDEX admin_unit_name_trgm ON admin.admin_unit USING gin (name_ascii gin_trgm_ops)")
    op.execute(
        """
        CREATE TABLE admin.crosswalk_raw (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            from_version text NOT NULL REFERENCES admin.boundary_version(id) ON DELETE CASCADE,
            to_version text NOT NULL REFERENCES admin.boundary_version(id) ON DELETE CASCADE,
            old_code text NOT NULL,
            old_name text NOT NULL,
            old_district text,
            old_province text,
            new_code text NOT NULL,
            new_name text NOT NULL,
            relation text NOT NULL CHECK (relation IN ('whole', 'partial', 'unchanged', 'other')),
            note text,
            source text NOT NULL,
            UNIQUE (from_version, to_version, old_code, new_code)
        )
        """
    )
    op.execute("CREATE INDEX crosswalk_raw_new_ix ON admin.crosswalk_raw (new_code)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS admin.crosswalk_raw")
    op.execute("DROP TABLE IF EXISTS admin.admin_unit")
    op.execute("DROP TABLE IF EXISTS admin.boundary_version")
