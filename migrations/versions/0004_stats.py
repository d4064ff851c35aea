"""stats: indicators, observations, import reports and the boundary crosswalk with shares

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE stats.indicator (
            code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,62}$'),
            name_vi text NOT NULL,
            name_en text NOT NULL,
            description text NOT NULL DEFAULT '',
            category text NOT NULL DEFAULT 'other',
            unit text NOT NULL,
            -- observed: values come from observations; geometry: computed from the unit's polygon;
            -- layer: from stats.layer_aggregate (a later revision); a ratio is always computed
            kind text NOT NULL DEFAULT 'observed' CHECK (kind IN ('observed', 'geometry', 'layer', 'derived')),
            aggregation text NOT NULL CHECK (aggregation IN ('sum', 'mean', 'ratio')),
            value_type text NOT NULL DEFAULT 'count'
                CHECK (value_type IN ('count', 'amount', 'score', 'rate', 'area')),
            weight_indicator text REFERENCES stats.indicator(code),
            numerator text REFERENCES stats.indicator(code),
            denominator text REFERENCES stats.indicator(code),
            scale double precision NOT NULL DEFAULT 1,
            levels text[] NOT NULL DEFAULT '{ward}',
            definition jsonb NOT NULL DEFAULT '{}'::jsonb,
            source text NOT NULL,
            source_url text,
            licence text NOT NULL,
            synthetic boolean NOT NULL DEFAULT false,
            sort_order int NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CHECK (aggregation <> 'ratio' OR (numerator IS NOT NULL AND denominator IS NOT NULL)),
            CHECK (aggregation = 'ratio' OR (numerator IS NULL AND denominator IS NULL)),
            CHECK (aggregation = 'mean' OR weight_indicator IS NULL)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE stats.import_run (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            key text UNIQUE,
            kind text NOT NULL CHECK (kind IN ('census', 'file', 'api', 'seed', 'crosswalk')),
            indicator_code text REFERENCES stats.indicator(code) ON DELETE CASCADE,
            period text,
            source text NOT NULL,
            author text,
            rows_total int NOT NULL DEFAULT 0,
            rows_written int NOT NULL DEFAULT 0,
            report jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE stats.observation (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            indicator_code text NOT NULL REFERENCES stats.indicator(code) ON DELETE CASCADE,
            boundary_version text NOT NULL,
            level text NOT NULL,
            unit_code text NOT NULL,
            period text NOT NULL CHECK (period ~ '^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$'),
            period_start date NOT NULL,
            period_end date NOT NULL,
            value double precision NOT NULL CHECK (value = value),
            source text NOT NULL,
            synthetic boolean NOT NULL DEFAULT false,
            import_run_id bigint REFERENCES stats.import_run(id) ON DELETE SET NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT observation_unit_fk FOREIGN KEY (boundary_version, level, unit_code)
                REFERENCES admin.admin_unit (boundary_version, level, code) ON DELETE CASCADE ON UPDATE CASCADE,
            CONSTRAINT observation_key UNIQUE (indicator_code, boundary_version, level, unit_code, period)
        )
        """
    )
    op.execute("CREATE INDEX observation_period_ix ON stats.observation (indicator_code, period)")
    op.execute("CREATE INDEX observation_unit_ix ON stats.observation (boundary_version, level, unit_code)")
    op.execute(
        """
        CREATE TABLE admin.crosswalk (
            from_version text NOT NULL REFERENCES admin.boundary_version(id) ON DELETE CASCADE,
            to_version text NOT NULL REFERENCES admin.boundary_version(id) ON DELETE CASCADE,
            old_code text NOT NULL,
            new_code text NOT NULL,
            relation text NOT NULL,
            -- the part of the old unit's quantity that goes to the new unit (sums to 1 per old unit)
            share_old double precision NOT NULL CHECK (share_old BETWEEN 0 AND 1),
            -- the part of the new unit's quantity that comes from the old unit (sums to 1 per new unit)
            share_new double precision NOT NULL CHECK (share_new BETWEEN 0 AND 1),
            method text NOT NULL,
            method_new text NOT NULL,
            area_km2 double precision,
            note text,
            updated_by text,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (from_version, to_version, old_code, new_code)
        )
        """
    )
    op.execute("CREATE INDEX crosswalk_new_ix ON admin.crosswalk (to_version, new_code)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS admin.crosswalk")
    op.execute("DROP TABLE IF EXISTS stats.observation")
    op.execute("DROP TABLE IF EXISTS stats.import_run")
    op.execute("DROP TABLE IF EXISTS stats.indicator")
