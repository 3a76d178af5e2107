"""Code exchanges (D8), the site-version packages (D10), the device product of each site.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "code_exchanges",
        sa.Column("exchange_id", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.String(63), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("code1", sa.String(6), nullable=False),
        sa.Column("code2", sa.String(6), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    op.create_index("code_exchanges_device", "code_exchanges",
                    ["site_id", "serial", "created_at"])
    op.create_table(
        "site_packages",
        sa.Column("site_id", sa.String(63), primary_key=True),
        sa.Column("product", sa.String(63), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("device_product", sa.String(63)))
        batch.add_column(sa.Column("device_version", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("device_version")
        batch.drop_column("device_product")
    op.drop_table("site_packages")
    op.drop_index("code_exchanges_device", table_name="code_exchanges")
    op.drop_table("code_exchanges")
