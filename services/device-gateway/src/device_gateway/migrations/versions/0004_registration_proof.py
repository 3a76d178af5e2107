"""Re-registration proves the device (issue 10 §3): the Idempotency-Key that created the
current credentials, the admin's approval, and wrong enrolment codes for the rate limit.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("idempotency_key_sha256", sa.String(64)))
        batch.add_column(sa.Column("reregistration_approved_at", sa.DateTime(timezone=True)))
    op.create_table(
        "registration_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("site_id", sa.String(63), nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("registration_failures_site", "registration_failures", ["site_id", "at"])
    op.create_index("registration_failures_client", "registration_failures", ["client", "at"])


def downgrade() -> None:
    op.drop_table("registration_failures")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("reregistration_approved_at")
        batch.drop_column("idempotency_key_sha256")
