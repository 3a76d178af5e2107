"""U12: when the devices were reactivated after a failed update (the banner says so).

Revision ID: 0009_devices_reactivated
Revises: 0008_platform_first
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_devices_reactivated"
down_revision = "0008_platform_first"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("updates") as batch:
        batch.add_column(sa.Column("devices_reactivated_at", sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("updates") as batch:
        batch.drop_column("devices_reactivated_at")
