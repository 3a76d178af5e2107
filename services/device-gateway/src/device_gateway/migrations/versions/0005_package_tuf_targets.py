"""The TUF target path of each announced package (issue 10): the directive tells devices where
the package is in the vendor's signed metadata.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
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
