"""app limits: a platform app's rate-limit windows, shared by every account posting through the app

Revision ID: 0007_app_limits
Revises: 0006_loop_indexes
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_app_limits"
down_revision = "0006_loop_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_limits",
        sa.Column("app", sa.String(length=128), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=True),
        sa.Column("reset_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("app", "endpoint", "family", name=op.f("pk_app_limits")),
    )


def downgrade() -> None:
    op.drop_table("app_limits")
