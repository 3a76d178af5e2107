"""U12, issue 14 §3: when an update failed (the vendor's view lists failed updates waiting for
support, the oldest failure first, and says since when; it showed the opening time before).

Revision ID: 0013_update_failed_at
Revises: 0012_site_time_zone
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_update_failed_at"
down_revision = "0012_site_time_zone"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("updates") as batch:
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("updates") as batch:
        batch.drop_column("failed_at")
