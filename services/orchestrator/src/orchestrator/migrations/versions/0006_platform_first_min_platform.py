"""R8 (platform first): the minimum platform version of each site's next release.

Revision ID: 0006_platform_first
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_platform_first"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("min_platform_version", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("min_platform_version")
