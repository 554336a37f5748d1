"""job pause: a person's pause of one job, kept apart from the settings' switch

Revision ID: 0003_job_pause
Revises: 0002_account_lease
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_job_pause"
down_revision = "0002_account_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_schedule") as batch:
        batch.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("paused_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_schedule") as batch:
        batch.drop_column("paused_by")
        batch.drop_column("paused_at")
