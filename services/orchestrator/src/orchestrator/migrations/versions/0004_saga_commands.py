"""The saga watchdog's memory: commands sent and awaiting their outcome.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "saga_commands",
        sa.Column("command_id", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("site_id", sa.String(63), nullable=False),
        sa.Column("update_id", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        _when("issued_at", nullable=False),
        _when("last_issued_at", nullable=False),
        sa.Column("reissues", sa.Integer, nullable=False),
        _when("stuck_since"),
        sa.Column("stuck_reason", sa.Text),
    )
    op.create_index("ix_saga_commands_update_id", "saga_commands", ["update_id"])


def downgrade() -> None:
    op.drop_index("ix_saga_commands_update_id", "saga_commands")
    op.drop_table("saga_commands")
