"""A release's and an update's package carry its TUF target path (issue 10: devices are told
it, so a device that verifies TUF looks the package up in the vendor's signed metadata).

Revision ID: 0007_package_tuf_target
Revises: 0006_ddi_devices
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_package_tuf_target"
down_revision = "0006_ddi_devices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("releases", "updates"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("package_target", sa.Text()))


def downgrade() -> None:
    for table in ("releases", "updates"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("package_target")
