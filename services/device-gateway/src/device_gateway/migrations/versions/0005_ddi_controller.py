"""The hawkBit DDI endpoint (D14, issue 15): which devices speak DDI, their actions (integer
ids, stable per device and deployment), the site admin's waiting rule per device model and the
site's gateway token.

Revision ID: 0005_ddi_controller
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_ddi_controller"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("agent", sa.String(16)))
        batch.add_column(sa.Column("ddi_attributes", sa.Text))
        batch.add_column(sa.Column("ddi_attributes_at", sa.DateTime(timezone=True)))
    op.create_table(
        "ddi_actions",
        sa.Column("action_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(63), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("update_id", sa.String(64)),
        sa.Column("product", sa.String(63), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("served_update", sa.String(8)),
        sa.Column("staged", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("cancel_requested", sa.Boolean, nullable=False,
                  server_default=sa.text("false")),
        sa.Column("outcome", sa.String(16)),
        sa.Column("details", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ddi_actions_device", "ddi_actions", ["site_id", "serial"])
    op.create_table(
        "ddi_models",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("model", sa.String(100), primary_key=True),
        sa.Column("waiting", sa.String(10), nullable=False),
        sa.Column("artifact_suffix", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ddi_gateway_tokens",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ddi_gateway_tokens")
    op.drop_table("ddi_models")
    op.drop_table("ddi_actions")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("ddi_attributes_at")
        batch.drop_column("ddi_attributes")
        batch.drop_column("agent")
