"""The installs table, outbox and inbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from lockstep_shared.migrations import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "installs",
        sa.Column("update_id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("package_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("installed_version", sa.String(64)),
        sa.Column("duration_s", sa.Float),
        sa.Column("log_tail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_installs_site_status", "installs", ["site_id", "status"])
    create_messaging_tables()


def downgrade() -> None:
    op.drop_index("ix_installs_site_status", table_name="installs")
    op.drop_table("installs")
    op.drop_table("inbox")
    op.drop_table("outbox")
