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
    # catalogue.audit_log (0003) had actor, action, layer_slug, versions and details; every write now
    # also names the caller's role, what kind of thing it changed (layer, token, indicator, job …)
    # and the request that did it.
    op.execute(
        """
        ALTER TABLE catalogue.audit_log
            ADD COLUMN role text,
            ADD COLUMN target_kind text NOT NULL DEFAULT 'layer',
            ADD COLUMN target text,
            ADD COLUMN request_id text
        """
    )
    op.execute("UPDATE catalogue.audit_log SET target = layer_slug WHERE target IS NULL")
    op.execute("CREATE INDEX audit_log_at ON catalogue.audit_log (at DESC, id DESC)")
    op.execute("CREATE INDEX audit_log_target ON catalogue.audit_log (target, id DESC)")
    op.execute("CREATE INDEX audit_log_action ON catalogue.audit_log (action, id DESC)")


def downgrade() -> None:
    for index in ("audit_log_action", "audit_log_target", "audit_log_at"):
        op.execute(f"DROP INDEX IF EXISTS catalogue.{index}")
    op.execute(
        """
        ALTER TABLE catalogue.audit_log
            DROP COLUMN IF EXISTS request_id,
            DROP COLUMN IF EXISTS target,
            DROP COLUMN IF EXISTS target_kind,
            DROP COLUMN IF EXISTS role
        """
    )
