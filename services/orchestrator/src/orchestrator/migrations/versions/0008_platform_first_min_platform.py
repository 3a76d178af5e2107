"""R8 (platform first): the minimum platform version of each site's next release.

Revision ID: 0008_platform_first
Revises: 0007_package_tuf_target
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_platform_first"
down_revision = "0007_package_tuf_target"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("min_platform_version", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("min_platform_version")
