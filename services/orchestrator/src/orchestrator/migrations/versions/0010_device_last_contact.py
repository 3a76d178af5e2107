"""When the device was last heard from (any of its events: registered, notified, blocked,
unblocked, handed in, reported its version), so the grid can say how long ago, also for a
device that stopped handing in data because it is blocked for an update.

Revision ID: 0010_device_last_contact
Revises: 0009_devices_reactivated
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_device_last_contact"
down_revision = "0009_devices_reactivated"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("last_contact", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("last_contact")
