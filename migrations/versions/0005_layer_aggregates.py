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
    op.execute("SELECT 1")  # filled in by the layer-aggregates work


def downgrade() -> None:
    op.execute("SELECT 1")
