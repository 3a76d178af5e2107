"""The site's time zone (an IANA name, e.g. Europe/Rome): the console shows dates and times in
it, and reads the audit filters in it. Existing sites: UTC.

Revision ID: 0012_site_time_zone
Revises: 0011_staging_and_stop_time
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_site_time_zone"
down_revision = "0011_staging_and_stop_time"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=False,
                                   server_default="UTC"))


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("time_zone")
