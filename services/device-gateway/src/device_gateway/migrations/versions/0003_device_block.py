"""The block of a device: since when, and whether the offline codes made it (waiting for update
means blocked, then handed in: a hand-in is matched with the block it came after).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("blocked_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("blocked_by_code", sa.Boolean, nullable=False,
                                   server_default=sa.text("false")))
    # a device blocked before this revision: its block begins now (a hand-in must follow)
    op.execute("UPDATE devices SET blocked_at = CURRENT_TIMESTAMP "
               "WHERE blocked_update_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("blocked_by_code")
        batch.drop_column("blocked_at")
