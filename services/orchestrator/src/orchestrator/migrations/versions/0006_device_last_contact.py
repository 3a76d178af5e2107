"""When the device was last heard from (any of its events: registered, notified, blocked,
unblocked, handed in, reported its version), so the grid can say how long ago, also for a
device that stopped handing in data because it is blocked for an update.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("last_contact", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("last_contact")
