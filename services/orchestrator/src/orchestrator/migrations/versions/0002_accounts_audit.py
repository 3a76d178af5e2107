"""Accounts and sessions (S1, S6), audit log (U15), support reports (U12), unlocked releases
(U13), entitlements (R4); the update's challenge and force request (U13, U7).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("updates") as batch:
        batch.add_column(sa.Column("challenge", sa.String(32)))
        batch.add_column(sa.Column("code_attempts", sa.Integer, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("force_requested_by", sa.String(200)))
        batch.add_column(_when("force_requested_at"))
    with op.batch_alter_table("updates") as batch:
        batch.alter_column("code_attempts", server_default=None)
    op.create_table(
        "users",
        sa.Column("username", sa.String(100), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("site_ids", sa.JSON, nullable=False),
        _when("created_at", nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
    )
    op.create_index("ix_sessions_username", "sessions", ["username"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
        _when("at", nullable=False),
    )
    op.create_index("ix_login_failures_who", "login_failures", ["username", "client"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _when("at", nullable=False),
        sa.Column("site_id", sa.String(63)),
        sa.Column("update_id", sa.String(64)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_site_at", "audit", ["site_id", "at"])
    op.create_table(
        "support_reports",
        sa.Column("update_id", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(63), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        _when("created_at", nullable=False),
        _when("next_attempt_at", nullable=False),
        _when("delivered_at"),
    )
    op.create_table(
        "unlocked_releases",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("product", sa.String(63), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        _when("unlocked_at", nullable=False),
        sa.Column("unlocked_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "site_entitlements",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("active", sa.Boolean, nullable=False),
        _when("valid_until"),
        sa.Column("reason", sa.Text),
        _when("checked_at", nullable=False),
    )


def downgrade() -> None:
    for table in ("site_entitlements", "unlocked_releases", "support_reports", "audit",
                  "login_failures", "sessions", "users"):
        op.drop_table(table)
    with op.batch_alter_table("updates") as batch:
        for column in ("force_requested_at", "force_requested_by", "code_attempts",
                       "challenge"):
            batch.drop_column(column)
