"""installs.stage: the step running, or where a failed install failed.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installs") as batch:
        batch.add_column(sa.Column("stage", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("installs") as batch:
        batch.drop_column("stage")
