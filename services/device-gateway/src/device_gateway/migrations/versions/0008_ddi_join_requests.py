"""An unknown device presenting its site's GatewayToken asks to join (issue 15 §4): the site
admin approves it (or dismisses it) in Device management; nothing is registered before.

Revision ID: 0008_ddi_join_requests
Revises: 0007_staging_in_background
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_ddi_join_requests"
down_revision = "0007_staging_in_background"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ddi_join_requests",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ddi_join_requests")
