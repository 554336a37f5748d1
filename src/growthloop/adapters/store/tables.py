"""The schema (the Store of docs/design.md#ports). One owner per table (I5); every table carries the account.

Names follow the seed system where it named a table or column (`content_metadata`, `post_attribution`,
the six `*_performance` tables), so its operators' diagnostic queries keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from growthloop.domain import DIMENSIONS

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: every *_at must be aware UTC")
        value = value.astimezone(UTC)
        if getattr(dialect, "name", "") == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    # On SQLite the two steps of a bind (this type's and the dialect's text format) run as one function, 1 us
    # instead of 3: the loop binds some 230,000 datetimes a simulated month. The text is the dialect's default
    # storage format, the one SQLAlchemy would write.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if not _default_sqlite_format(self, dialect):
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError(f"naive datetime {value!r}: every *_at must be aware UTC")
            v = value.astimezone(UTC)
            return _SQLITE_FORMAT % (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)

        return process


_SQLITE_FORMAT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


def _default_sqlite_format(column_type: UTCDateTime, dialect: Dialect) -> bool:
    """SQLite, with its DATETIME's default text format (the one `_SQLITE_FORMAT` writes)."""
    if dialect.name != "sqlite":
        return False
    impl = column_type.load_dialect_impl(dialect)
    impl = dialect.type_descriptor(impl)
    fmt = getattr(impl, "_storage_format", None)
    default = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
    return fmt == default


def _account() -> Column[str]:
    return Column("account", String(64), ForeignKey("accounts.name"), nullable=False)


accounts = Table(
    "accounts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # the account registry (growthloop/accounts.py): its own world and settings file, a person's pause, removal
    Column("world", Text),
    Column("config_path", Text),
    Column("paused_at", UTCDateTime),
    Column("paused_by", String(64)),
    Column("removed_at", UTCDateTime),
)

# One row per planned piece of content, from decision to posting (stages 1-4).
content_metadata = Table(
    "content_metadata",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("decision_id", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text),
    Column("kind", String(8), nullable=False, default="post"),  # post | reply
    Column("in_reply_to", String(64)),  # the platform id replied to
    Column("tweet_id", String(64)),  # the post's platform_id, on any platform: the seed's name (docs/architecture.md)
    Column("part_ids", JSON),
    Column("posted_at", UTCDateTime),
    *[Column(dim, String(64), nullable=False) for dim in DIMENSIONS],
    Column("content", Text, nullable=False),
    Column("content_sha", String(64), nullable=False),  # exact-duplicate look-ups over the whole history
    Column("thread_parts", JSON),
    Column("is_thread", Boolean, nullable=False, default=False),
    # the learned figures the brief quoted ("dimension=value"), docs/design.md#feed-back
    Column("brief_insights", JSON),
    Column("policy", String(64), nullable=False),
    Column("propensity", Float, nullable=False),
    Column("propensities", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_content_metadata_account_status", "account", "status"),
    Index("ix_content_metadata_account_posted_at", "account", "posted_at"),
    Index("ix_content_metadata_account_content_sha", "account", "content_sha"),
    # learning's count of the posted posts of its window, from the index alone (migration 0008)
    Index("ix_content_metadata_account_status_posted_at", "account", "status", "posted_at"),
    # an account's rows by its own range of ids, however many accounts share the table (migration 0009)
    Index("ix_content_metadata_account_id", "account", "id"),
)

# The write-ahead ledger (I3, I4): a row before the platform call, its outcome after. Rate limits count these.
post_attempts = Table(
    "post_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("decision_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False, default="post"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(16), nullable=False),  # pending | published | reconciled | failed | unknown
    Column("platform_id", String(64)),
    Column("error", Text),
    Column("lease_token", String(32)),  # the lease its process held: a live holder's attempt is not reconciled
    Index("ix_post_attempts_account_started_at", "account", "started_at"),
)

metric_snapshots = Table(
    "metric_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("decision_id", String(64), nullable=False),
    Column("tweet_id", String(64), nullable=False),
    Column("checkpoint", String(8), nullable=False),
    Column("source", String(32), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("impressions", BigInteger),
    Column("likes", BigInteger),
    Column("reposts", BigInteger),
    Column("replies", BigInteger),
    Column("quotes", BigInteger),
    Column("bookmarks", BigInteger),
    Column("profile_clicks", BigInteger),
    Column("link_clicks", BigInteger),
    UniqueConstraint("decision_id", "checkpoint", name="uq_metric_snapshots_decision_checkpoint"),
    Index("ix_metric_snapshots_account_observed_at", "account", "observed_at"),
    Index("ix_metric_snapshots_account_id", "account", "id"),
)

follower_snapshots = Table(
    "follower_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("followers", Integer, nullable=False),
    Column("source", String(32), nullable=False),
    Index("ix_follower_snapshots_account_observed_at", "account", "observed_at"),
)

post_attribution = Table(
    "post_attribution",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("decision_id", String(64), nullable=False, unique=True),
    Column("tweet_id", String(64), nullable=False),
    Column("posted_at", UTCDateTime, nullable=False),
    Column("followers_before", Integer),
    Column("followers_2h", Integer),
    Column("followers_24h", Integer),
    Column("followers_48h", Integer),
    Column("window_delta", Integer),
    Column("attributed_followers", Float),
    Column("attributed_sd", Float),
    Column("missing_reason", Text),
    Column("method", String(64), nullable=False),
    Column("method_version", String(16), nullable=False),
    Column("final", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_post_attribution_account_updated_at", "account", "updated_at"),
    Index("ix_post_attribution_account_posted_at", "account", "posted_at"),
)


def _performance_table(dimension: str) -> Table:
    return Table(
        f"{dimension}_performance",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        _account(),
        Column(dimension, String(64), nullable=False),
        Column("uses", Integer, nullable=False),
        Column("avg_impressions", Float),
        Column("avg_engagement_rate", Float),
        Column("avg_followers", Float),
        Column("total_followers", Float),
        Column("posterior_mean", Float),
        Column("ci_low", Float),
        Column("ci_high", Float),
        Column("confidence", Float, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        UniqueConstraint("account", dimension, name=f"uq_{dimension}_performance_value"),
    )


performance_tables: dict[str, Table] = {dim: _performance_table(dim) for dim in DIMENSIONS}

# Reply opportunities (docs/design.md#replies): found, scored, then replied to automatically where the platform allows
# it (summoned), or drafted for a person to approve or reject. Never acted on twice.
reply_opportunities = Table(
    "reply_opportunities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("platform_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # mention | quote | search
    Column("author", String(128), nullable=False),
    Column("author_followers", Integer),
    Column("text", Text, nullable=False),  # untrusted
    Column("created_at", UTCDateTime, nullable=False),
    Column("found_at", UTCDateTime, nullable=False),
    Column("score", Float, nullable=False),
    Column("score_parts", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # new | drafted | approved | rejected | queued | skipped
    Column("status_reason", Text),
    Column("decision_id", String(64)),  # the reply's content_metadata row, once written
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("account", "platform_id", name="uq_reply_opportunities_account_platform_id"),
    Index("ix_reply_opportunities_account_status", "account", "status"),
    Index("ix_reply_opportunities_account_created_at", "account", "created_at"),
    Index("ix_reply_opportunities_account_found_at", "account", "found_at"),
)

job_schedule = Table(
    "job_schedule",
    metadata,
    _account(),
    Column("job", String(32), nullable=False),
    Column("interval_s", Integer, nullable=False),
    Column("timeout_s", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("next_due", UTCDateTime, nullable=False),
    # a person's pause (jobs/pause.py), apart from the settings' switch: sync_schedule never touches it
    Column("paused_at", UTCDateTime),
    Column("paused_by", String(64)),
    UniqueConstraint("account", "job", name="uq_job_schedule_account_job"),
)

# I1 and I9: every run, keyed by (account, job, scheduled time); a duplicate key is a no-op.
job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("job", String(32), nullable=False),
    Column("scheduled_for", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False),  # running | succeeded | failed | timed_out
    Column("attempt", Integer, nullable=False, default=1),  # >1: the key's earlier run was cut off by a kill
    Column("items_in", Integer),
    Column("items_out", Integer),
    Column("note", Text),  # why a run with input produced nothing, when that is expected
    Column("flagged", Text),  # a run with input and no output, and no reason given (I1)
    Column("error", Text),
    Column("wall_ms", Float),
    UniqueConstraint("account", "job", "scheduled_for", name="uq_job_runs_key"),
    Index("ix_job_runs_account_job_started", "account", "job", "started_at"),
    Index("ix_job_runs_account_status", "account", "status"),
)

llm_usage = Table(
    "llm_usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("at", UTCDateTime, nullable=False),
    Column("decision_id", String(64)),
    Column("model", String(128), nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cost_usd", Float),
)

# What the platform charged (spend/): one row per priced call, from the price table in the settings.
# `resource_ids` are the resources billed by this call ("post:ID", "user:ID"): X charges a resource once per
# UTC day (`day`), so a later read of the same resource that day is recorded with billed = 0.
platform_usage = Table(
    "platform_usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("platform", String(32), nullable=False),
    Column("endpoint", String(64), nullable=False),  # the HTTP call, e.g. "GET /2/users/:id/mentions"
    Column("category", String(32), nullable=False),  # the price table's key, e.g. "owned_read"
    Column("purpose", String(32), nullable=False),  # post, reply, metrics, followers, mentions, search, ...
    Column("at", UTCDateTime, nullable=False),
    Column("day", String(10), nullable=False),  # the UTC day of `at`, YYYY-MM-DD: the deduplication window
    Column("resources", Integer, nullable=False),  # requests (writes) or resources returned (reads)
    Column("billed", Integer, nullable=False),  # units charged after same-day deduplication
    Column("unit_micros", Integer, nullable=False),  # price per unit, micro-dollars
    Column("cost_micros", BigInteger, nullable=False),  # billed x unit_micros
    Column("resource_ids", JSON, nullable=False),
    Index("ix_platform_usage_account_day", "account", "day"),
)

# One process runs an account's jobs at a time: the holder of its lease (jobs/lease.py). No foreign key:
# the lease is taken before anything else is written, even before the account's row.
account_leases = Table(
    "account_leases",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("token", String(32), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("renewed_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# A platform app's rate-limit windows (X's per-app 24-hour caps), shared by every account posting through the app:
# not an account's row, so it carries the app instead (distributed/applimits.py).
app_limits = Table(
    "app_limits",
    metadata,
    Column("app", String(128), primary_key=True),
    Column("endpoint", String(64), primary_key=True),
    Column("family", String(64), primary_key=True),
    Column("remaining", Integer, nullable=True),
    Column("reset_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Small key/value facts about a database: configuration fingerprint, a simulation's virtual time.
app_state = Table(
    "app_state",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
)

# The simulator's platform-side state (docs/design.md#simulator), kept so a killed simulation resumes and a duplicate
# publish is detected. Only the sim adapter touches these tables.
sim_posts = Table(
    "sim_posts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("platform_id", String(64), nullable=False, unique=True),
    Column("seq", Integer, nullable=False),
    Column("request_key", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("text_sha", String(64), nullable=False, index=True),  # duplicate look-ups without a text index
    Column("parts", JSON, nullable=False),
    Column("dimensions", JSON, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("outcome", JSON, nullable=False),
    Column("follows", Integer, nullable=False),
    Column("expected_follows", Float, nullable=False),
    Column("viral", Boolean, nullable=False),
    UniqueConstraint("account", "seq", name="uq_sim_posts_account_seq"),
    Index("ix_sim_posts_account_id", "account", "id"),
)

sim_follower_events = Table(
    "sim_follower_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("at", UTCDateTime, nullable=False),
    Column("delta", Integer, nullable=False),
    Column("cause", String(64), nullable=False),  # a platform id, "organic" or "churn"
    Index("ix_sim_follower_events_account_at", "account", "at"),
    Index("ix_sim_follower_events_account_id", "account", "id"),
)

sim_rejections = Table(
    "sim_rejections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _account(),
    Column("at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("text", Text, nullable=False),
)
