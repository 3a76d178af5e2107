"""Devices stage the site's next release in the background (issue 14 §2): the release each
site may stage, the per-site download slots, and what each device staged.

Revision ID: 0007_staging_in_background
Revises: 0006_package_tuf_targets
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_staging_in_background"
down_revision = "0006_package_tuf_targets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("staged_sha256", sa.String(64)))
    op.create_table(
        "site_offers",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("product", sa.String(63), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "staging_slots",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("staging_slots")
    op.drop_table("site_offers")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("staged_sha256")
