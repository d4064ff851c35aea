"""stats: layer aggregates per administrative unit (count, length, area per published layer version)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # "atoms": the faces of the overlay of every unit polygon of the aggregated levels (all boundary
    # versions, noded on a 1e-7 degree grid), each with the units it lies in, cut by ST_Subdivide into
    # small pieces under a GiST index: a feature is found once among the pieces and its atom says which
    # unit of every level it is in. Rebuilt when the units' geometries change (unit_atom_state.fingerprint).
    op.execute("CREATE TABLE stats.unit_atom (id bigint PRIMARY KEY, geom geometry(Geometry, 4326) NOT NULL)")
    op.execute(
        """
        CREATE TABLE stats.unit_atom_member (
            atom_id bigint NOT NULL REFERENCES stats.unit_atom(id) ON DELETE CASCADE,
            unit_id bigint NOT NULL REFERENCES admin.admin_unit(id) ON DELETE CASCADE,
            PRIMARY KEY (atom_id, unit_id)
        )
        """
    )
    op.execute("CREATE INDEX unit_atom_member_unit_ix ON stats.unit_atom_member (unit_id)")
    op.execute(
        """
        CREATE TABLE stats.unit_atom_piece (
            atom_id bigint NOT NULL REFERENCES stats.unit_atom(id) ON DELETE CASCADE,
            geom geometry(Geometry, 4326) NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX unit_atom_piece_geom_gix ON stats.unit_atom_piece USING gist (geom)")
    op.execute("CREATE INDEX unit_atom_piece_atom_ix ON stats.unit_atom_piece (atom_id)")
    op.execute(
        """
        CREATE TABLE stats.unit_atom_state (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            fingerprint text NOT NULL,
            units int NOT NULL,
            atoms int NOT NULL,
            pieces int NOT NULL,
            seconds double precision NOT NULL,
            built_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # one row per computed layer version: on which boundaries (fingerprint of the pieces) and how long
    op.execute(
        """
        CREATE TABLE stats.layer_aggregate_run (
            layer_version_id bigint PRIMARY KEY REFERENCES catalogue.layer_version(id) ON DELETE CASCADE,
            layer_id bigint NOT NULL REFERENCES catalogue.layer(id) ON DELETE CASCADE,
            version int NOT NULL,
            boundaries text NOT NULL,
            units int NOT NULL,
            features bigint NOT NULL,
            seconds double precision NOT NULL,
            computed_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX layer_aggregate_run_layer_ix ON stats.layer_aggregate_run (layer_id)")
    # only units with at least one feature have a row; the others are zero once their version has a run
    op.execute(
        """
        CREATE TABLE stats.layer_aggregate (
            layer_version_id bigint NOT NULL
                REFERENCES stats.layer_aggregate_run(layer_version_id) ON DELETE CASCADE,
            unit_id bigint NOT NULL REFERENCES admin.admin_unit(id) ON DELETE CASCADE,
            feature_count bigint NOT NULL,
            length_m double precision,
            area_m2 double precision,
            PRIMARY KEY (layer_version_id, unit_id)
        )
        """
    )
    op.execute("CREATE INDEX layer_aggregate_unit_ix ON stats.layer_aggregate (unit_id)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS stats.layer_aggregate")
    op.execute("DROP TABLE IF EXISTS stats.layer_aggregate_run")
    op.execute("DROP TABLE IF EXISTS stats.unit_atom_state")
    op.execute("DROP TABLE IF EXISTS stats.unit_atom_piece")
    op.execute("DROP TABLE IF EXISTS stats.unit_atom_member")
    op.execute("DROP TABLE IF EXISTS stats.unit_atom")
