"""loop indexes: what the dashboard's time ranges and the loop's look-ups by time need

metric_snapshots(account, observed_at) and post_attribution(account, updated_at) for the dashboard's
"since" reads; post_attribution(account, posted_at) for the attribution job's pending posts, looked up
over the last days instead of every final row of the account.

Revision ID: 0006_loop_indexes
Revises: 0005_accounts
Create Date: 2026-12-06
"""

from alembic import op

revision = "0006_loop_indexes"
down_revision = "0005_accounts"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_metric_snapshots_account_observed_at", "metric_snapshots", ["account", "observed_at"]),
    ("ix_post_attribution_account_updated_at", "post_attribution", ["account", "updated_at"]),
    ("ix_post_attribution_account_posted_at", "post_attribution", ["account", "posted_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
