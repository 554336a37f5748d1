"""account id indexes: an account's newest rows by its own range of ids, however many accounts share a table

content_metadata, metric_snapshots, sim_posts and sim_follower_events(account, id). The loop reads an
account's rows written since its last read (and the newest posts down to a limit) as a range of ids. Walked
on the primary key, that range holds every account's rows written meanwhile: at 200 accounts on one
PostgreSQL database, 200 times the account's own, and the plan's look at its 200 newest posts walked
40,000 rows at a few simulated days. On (account, id) it is the account's rows alone.

Revision ID: 0009_account_id_indexes
Revises: 0008_learn_indexes
Create Date: 2026-12-07
"""

from alembic import op

revision = "0009_account_id_indexes"
down_revision = "0008_learn_indexes"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_content_metadata_account_id", "content_metadata", ["account", "id"]),
    ("ix_metric_snapshots_account_id", "metric_snapshots", ["account", "id"]),
    ("ix_sim_posts_account_id", "sim_posts", ["account", "id"]),
    ("ix_sim_follower_events_account_id", "sim_follower_events", ["account", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
