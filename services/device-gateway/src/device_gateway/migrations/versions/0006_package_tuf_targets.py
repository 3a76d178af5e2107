"""The TUF target path of each announced package (issue 10): the directive tells devices where
the package is in the vendor's signed metadata.

Revision ID: 0006_package_tuf_targets
Revises: 0005_ddi_controller
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_package_tuf_targets"
down_revision = "0005_ddi_controller"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "package_targets",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("target", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("package_targets")
