"""Devices stage the next release in the background; each update's stop time (issue 14 §2).

Revision ID: 0011_staging_and_stop_time
Revises: 0010_device_last_contact
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_staging_and_stop_time"
down_revision = "0010_device_last_contact"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("staged_version", sa.String(64)))
    op.create_table(
        "update_stop_times",
        sa.Column("update_id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(63), nullable=False),
        sa.Column("first_blocked_at", sa.DateTime(timezone=True)),
        sa.Column("last_back_at", sa.DateTime(timezone=True)),
        sa.Column("complete", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("update_stop_times")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("staged_version")
