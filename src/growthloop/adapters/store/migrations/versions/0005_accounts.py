"""accounts registry: each account's world and settings file, a pause of the whole account, removal

Revision ID: 0005_accounts
Revises: 0004_platform_usage
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_accounts"
down_revision = "0004_platform_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("world", sa.Text(), nullable=True))
        batch.add_column(sa.Column("config_path", sa.Text(), nullable=True))
        batch.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("paused_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("removed_at")
        batch.drop_column("paused_by")
        batch.drop_column("paused_at")
        batch.drop_column("config_path")
        batch.drop_column("world")
