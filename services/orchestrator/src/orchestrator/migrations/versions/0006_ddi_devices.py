"""Devices whose update agent speaks hawkBit DDI (D14, issue 15): the grid says which they
are and what "waiting" meant for them.

Revision ID: 0006_ddi_devices
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_ddi_devices"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("agent", sa.String(16)))
        batch.add_column(sa.Column("ddi_waiting", sa.String(10)))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("ddi_waiting")
        batch.drop_column("agent")
