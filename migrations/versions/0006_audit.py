"""audit: a log of every write (who, what, when, versions before and after)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SELECT 1")  # filled in by the audit-log work


def downgrade() -> None:
    op.execute("SELECT 1")
