"""The vendor's subscription answer per site (R4).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("watched_sites", sa.Column("entitlement_active", sa.Boolean))
    op.add_column(
        "watched_sites", sa.Column("entitlement_valid_until", sa.DateTime(timezone=True))
    )
    op.add_column("watched_sites", sa.Column("entitlement_reason", sa.Text))
    op.add_column(
        "watched_sites", sa.Column("entitlement_checked_at", sa.DateTime(timezone=True))
    )


def downgrade() -> None:
    with op.batch_alter_table("watched_sites") as batch:
        batch.drop_column("entitlement_checked_at")
        batch.drop_column("entitlement_reason")
        batch.drop_column("entitlement_valid_until")
        batch.drop_column("entitlement_active")
