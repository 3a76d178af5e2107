"""Sites, products, releases, updates (the saga), devices (the grid), outbox and inbox.

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


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("license_key", sa.String(200), nullable=False),
        sa.Column("enrolment_code_sha256", sa.String(64), nullable=False),
        sa.Column("check_interval_s", sa.Integer, nullable=False),
        _when("created_at", nullable=False),
    )
    op.create_table(
        "site_products",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("product", sa.String(63), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
    )
    op.create_table(
        "releases",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("product", sa.String(63), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("received_bytes", sa.BigInteger, nullable=False),
        sa.Column("total_bytes", sa.BigInteger, nullable=False),
        sa.Column("notes_url", sa.Text),
        sa.Column("requires_confirmation_code", sa.Boolean, nullable=False),
        sa.Column("code_unlocked", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("package_sha256", sa.String(64)),
        sa.Column("package_size", sa.BigInteger),
        sa.Column("package_url", sa.Text),
        _when("updated_at"),
    )
    op.create_table(
        "updates",
        sa.Column("update_id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(63), nullable=False),
        sa.Column("product", sa.String(63), nullable=False),
        sa.Column("from_version", sa.String(64), nullable=False),
        sa.Column("to_version", sa.String(64), nullable=False),
        sa.Column("package_sha256", sa.String(64), nullable=False),
        sa.Column("package_size", sa.BigInteger, nullable=False),
        sa.Column("package_url", sa.Text, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("notes_url", sa.Text),
        sa.Column("devices_released", sa.Boolean, nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("authorized_by", sa.Text, nullable=False),
        _when("opened_at", nullable=False),
        sa.Column("opened_by", sa.String(200), nullable=False),
        _when("notifying_since"),
        _when("server_update_started_at"),
        _when("server_updated_at"),
        _when("closed_at"),
        sa.Column("closed_by", sa.String(200)),
        sa.Column("failure_reason", sa.Text),
        sa.Column("failure_exit_code", sa.Integer),
        sa.Column("failure_log_tail", sa.Text),
        sa.Column("failure_interrupted", sa.Boolean, nullable=False),
        _when("agent_last_heartbeat"),
        sa.Column("agent_last_progress", sa.Text),
        sa.Column("agent_last_percent", sa.Integer),
        _when("agent_last_progress_at"),
        _when("agent_install_started_at"),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_updates_site_id", "updates", ["site_id"])
    # U14: one active update per site (partial unique index: PostgreSQL and SQLite alike).
    op.create_index("uq_updates_one_active_per_site", "updates", ["site_id"], unique=True,
                    postgresql_where=sa.text("active"), sqlite_where=sa.text("active"))
    op.create_table(
        "devices",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("operator_code", sa.String(200)),
        sa.Column("operator_name", sa.String(200)),
        sa.Column("operator_phone", sa.String(200)),
        sa.Column("app_version", sa.String(64), nullable=False),
        _when("registered_at", nullable=False),
        _when("last_sync"),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("notifications_enabled", sa.Boolean, nullable=False),
        sa.Column("update_id", sa.String(64)),
        sa.Column("notification_kind", sa.String(16)),
        sa.Column("notification_outcome", sa.String(16)),
        sa.Column("notification_note", sa.Text),
        sa.Column("notification_sent", sa.Boolean, nullable=False),
        sa.Column("blocked", sa.Boolean, nullable=False),
        sa.Column("waiting_for_update", sa.Boolean, nullable=False),
        sa.Column("notes", sa.Text),
    )
    create_messaging_tables()


def downgrade() -> None:
    for table in ("devices", "updates", "releases", "site_products", "sites", "outbox", "inbox"):
        op.drop_table(table)
