"""Watched sites and products, outbox and inbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from lockstep_shared.migrations import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watched_sites",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("license_key", sa.String(200), nullable=False),
        sa.Column("check_interval_s", sa.Integer, nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True)),
        sa.Column("last_failure", sa.Text),
        sa.Column("check_correlation_id", sa.String(64)),
        sa.Column("check_causation_id", sa.String(64)),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("watched_sites_due", "watched_sites", ["next_check_at"])
    op.create_table(
        "watched_products",
        sa.Column(
            "site_id", sa.String(63),
            sa.ForeignKey("watched_sites.site_id", ondelete="CASCADE"), primary_key=True,
        ),
        sa.Column("product", sa.String(63), primary_key=True),
        sa.Column("installed_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="unchecked"),
        sa.Column("next_version", sa.String(64)),
        sa.Column("notes_url", sa.Text),
        sa.Column("target_path", sa.Text),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size", sa.BigInteger),
        sa.Column("received_bytes", sa.BigInteger),
        sa.Column(
            "requires_confirmation_code", sa.Boolean, nullable=False, server_default=sa.false()
        ),
        sa.Column("min_platform_version", sa.String(64)),
        sa.Column("platform_required", sa.String(64)),
        sa.Column("reason", sa.Text),
        sa.Column("checked_at", sa.DateTime(timezone=True)),
    )
    create_messaging_tables()


def downgrade() -> None:
    op.drop_table("watched_products")
    op.drop_table("watched_sites")
    op.drop_table("inbox")
    op.drop_table("outbox")
