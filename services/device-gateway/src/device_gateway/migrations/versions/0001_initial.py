"""The gateway's tables: sites, devices, site updates, notifications, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
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
        "sites",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("enrolment_code_sha256", sa.String(64), nullable=False),
        sa.Column("products", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("operator_code", sa.String(100)),
        sa.Column("operator_name", sa.String(200)),
        sa.Column("operator_phone", sa.String(50)),
        sa.Column("app_version", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("notifications_enabled", sa.Boolean, nullable=False,
                  server_default=sa.text("true")),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sync", sa.DateTime(timezone=True)),
        sa.Column("blocked_update_id", sa.String(64)),
        sa.Column("waiting_update_id", sa.String(64)),
        sa.Column("admitted_update_id", sa.String(64)),
    )
    op.create_table(
        "site_updates",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("update_id", sa.String(64), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("product", sa.String(63)),
        sa.Column("version", sa.String(64)),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size", sa.BigInteger),
        sa.Column("url", sa.Text),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("site_id", sa.String(63), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("update_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("cause_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("acked_at", sa.DateTime(timezone=True)),
        sa.Column("overdue_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("request_id", "serial", name="notifications_request_serial"),
    )
    op.create_index("notifications_device", "notifications", ["site_id", "serial", "acked_at"])
    op.create_index(
        "notifications_deadline", "notifications", ["created_at"],
        postgresql_where=sa.text("acked_at IS NULL AND overdue_at IS NULL"),
        sqlite_where=sa.text("acked_at IS NULL AND overdue_at IS NULL"),
    )
    create_messaging_tables()


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("site_updates")
    op.drop_table("devices")
    op.drop_table("sites")
    op.drop_table("outbox")
    op.drop_table("inbox")
