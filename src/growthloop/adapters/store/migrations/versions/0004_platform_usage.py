"""platform usage: one priced row per platform call (spend/)

Revision ID: 0004_platform_usage
Revises: 0003_job_pause
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_platform_usage"
down_revision = "0003_job_pause"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_usage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("resources", sa.Integer(), nullable=False),
        sa.Column("billed", sa.Integer(), nullable=False),
        sa.Column("unit_micros", sa.Integer(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("resource_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account"], ["accounts.name"], name=op.f("fk_platform_usage_account_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_usage")),
    )
    op.create_index("ix_platform_usage_account_day", "platform_usage", ["account", "day"])


def downgrade() -> None:
    op.drop_index("ix_platform_usage_account_day", table_name="platform_usage")
    op.drop_table("platform_usage")
