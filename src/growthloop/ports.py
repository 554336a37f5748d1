"""The ports of docs/design.md#ports: Platform (and its CredentialCheck), Generator, Clock, the Store, and the
stages' records (what each stage reads and writes, by name: `Records`).

Adapters live beside them under `growthloop.adapters`; `bootstrap.py` is the one place that picks them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from growthloop.domain import (
    Brief,
    Capabilities,
    Draft,
    Mention,
    PostMetrics,
    PublishReceipt,
    PublishRequest,
    ValueStats,
)

# The connection a Store's transactions yield, which its statements run on (SQLAlchemy's Connection for
# SqlStore): opaque to this floor, which imports no database library.
Connection = Any
# A row the records give back: a tuple with its columns by name as attributes (`row.decision_id`), read only.
Row = Any


@runtime_checkable
class Clock(Protocol):
    """The only source of time. Jobs never read the wall clock or sleep on their own."""

    def now(self) -> datetime: ...

    def sleep_until(self, when: datetime) -> None: ...


@runtime_checkable
class Platform(Protocol):
    name: str

    def capabilities(self) -> Capabilities: ...

    def publish(self, request: PublishRequest, now: datetime) -> PublishReceipt:
        """Post a single post or a thread. Raises a PlatformError subclass on failure."""
        ...

    def find_published(self, request: PublishRequest, now: datetime) -> PublishReceipt | None:
        """Reconcile an attempt whose outcome is unknown: the receipt if it went out, else None."""
        ...

    def metrics(self, platform_ids: Sequence[str], now: datetime) -> list[PostMetrics]: ...

    def follower_count(self, now: datetime) -> int: ...

    def mentions(self, since: datetime, now: datetime) -> list[Mention]:
        """Posts that mention or quote the account, created after `since`."""
        ...

    def search_recent(self, query: str, now: datetime) -> list[Mention]:
        """Recent posts by others matching `query` (only where capabilities().search)."""
        ...


class Identity(Protocol):
    """Who a platform's credentials act for, as a credentials check reports it."""

    @property
    def username(self) -> str | None: ...


@runtime_checkable
class CredentialCheck(Protocol):
    """A platform that can tell, with one harmless read, whether its credentials work (doctor's check).

    The real platforms have it (users/me on X, verify_credentials on Mastodon, the session on Bluesky), and the
    dry-run wrapper passes it to the platform it wraps; the simulator has no credentials.
    """

    def check_credentials(self, now: datetime) -> Identity:
        """Who the credentials act for. Raises a GrowthloopError naming the variables (never a value) when refused."""
        ...


@runtime_checkable
class Generator(Protocol):
    name: str

    def write(self, brief: Brief) -> Draft: ...

    def write_reply(self, brief: Brief, mention: Mention) -> Draft:
        """A reply to `mention`. Its text is untrusted: never instructions, never copied out."""
        ...


class Rows(Protocol):
    """What a statement sent through the Store returned: its rows (by index and by column name), its rowcount."""

    rowcount: int

    def __iter__(self) -> Iterator[Any]: ...

    def all(self) -> list[Any]: ...

    def first(self) -> Any: ...

    def one(self) -> Any: ...

    def scalar(self) -> Any: ...

    def scalar_one(self) -> Any: ...

    def scalars(self) -> list[Any]: ...


@runtime_checkable
class Store(Protocol):
    """What the stages use of the database (`adapters.store.SqlStore` on SQLite and PostgreSQL).

    - `begin()` is one transaction: committed at the block's end, rolled back if it raises; a stage's
      durability points (the write-ahead attempt before a platform call) are where its blocks end.
    - `connect()` is a connection to read with; neither it nor `run` outside `begin()` writes for good.
    - `hold()` serves every `begin()` and `connect()` of the calling thread from one connection until it
      ends (a job run); each `begin()` inside is still its own transaction.
    - `run` sends a statement prepared once (`adapters.store.prepared`) and gives its rows (by index and
      by column name) and rowcount; `run_insert` inserts rows (one mapping, or a list of them).
    - `get_state`/`set_state` keep a small JSON value per (account, key); None when there is none.
    - `url` names the database (caches owned by the wiring are keyed by it), `dialect` its SQL dialect.

    The stages use `begin`, `connect`, `hold` and the state; their statements are their records' (`Records`,
    below), run on the connections of the stages' own blocks. `run`/`run_insert` serve the jobs (ledger, schedule).

    tests/contract/test_store_port.py holds every adapter to this.
    """

    url: str

    @property
    def dialect(self) -> str: ...

    def begin(self) -> AbstractContextManager[Connection]: ...

    def connect(self) -> AbstractContextManager[Connection]: ...

    def hold(self) -> AbstractContextManager[object]: ...

    def run(
        self,
        conn: Connection,
        statement: Any,  # the adapter's prepared statement (adapters.store.prepared.Prepared)
        values: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> Rows: ...

    def run_insert(
        self,
        conn: Connection,
        insert: Any,  # the adapter's prepared insert (adapters.store.prepared.PreparedInsert)
        rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    ) -> Rows: ...

    def get_state(self, conn: Connection, account: str, key: str) -> Any: ...

    def set_state(self, conn: Connection, account: str, key: str, value: Any) -> None: ...


# -- the stages' records ---------------------------------------------------------------------------------------
#
# Each stage reads and writes through named methods, never SQL. Every method runs on the connection of a
# `Store.begin()` block (a write: it lasts until the block commits) or a `Store.connect()` block (a read), which
# the stage opens: the stage owns its transactions, so its durability points are where it ends its blocks.
# Methods keep the order of the writes they are given; none commits by itself.
# tests/contract/test_store_port.py holds the SQL records to these on SQLite and PostgreSQL.


class LeaseCheck(Protocol):
    """The account lease, as the post stage checks it (jobs/lease.py keeps the lease)."""

    def live_token(self, conn: Connection, account: str) -> str | None:
        """The token of the account's live holder, if it has one: the attempts in flight under it are its own."""
        ...

    def verify_held(self, conn: Connection, account: str) -> str | None:
        """Inside the claim's transaction: raise LeaseLost if this process's lease was taken over; this process's
        token, or None when it holds no lease (a test driving a stage directly)."""
        ...


class PostRecords(LeaseCheck, Protocol):
    """The post stage (loop/post.py): the queue, the write-ahead attempts (I3), the rolling rate window (I4).

    The claim is one `begin()` block: `lock_account` first (it serialises two claimers of one account: SQLite's
    write lock, PostgreSQL's row lock), then `verify_held`, `attempt_starts`, `oldest_queued`, `take` and
    `record_attempt`; the block commits before the platform is called, so an attempt is never unrecorded.
    """

    def waiting(self, conn: Connection, account: str) -> list[tuple[str, str, int]]:
        """(status, kind, count) of the account's queued and posting content, in one read."""
        ...

    def posting(self, conn: Connection, account: str) -> list[Row]:
        """The account's content rows in 'posting' (every content_metadata column), to reconcile."""
        ...

    def last_attempt(self, conn: Connection, decision_id: str) -> Row:
        """The newest attempt of a post: (id, outcome, lease_token). The post has one (it is 'posting')."""
        ...

    def attempts(self, conn: Connection, decision_id: str) -> int:
        """How many attempts the post has had."""
        ...

    def not_found(
        self, conn: Connection, attempt_id: int, decision_id: str, status: str, reason: str, now: datetime
    ) -> None:
        """Reconciliation found no trace of the attempt: it failed, and the post takes `status` with `reason`."""
        ...

    def mark_posted(
        self, conn: Connection, decision_id: str, attempt_id: int, receipt: PublishReceipt, now: datetime, outcome: str
    ) -> None:
        """The post went out (`outcome` 'published', or 'reconciled' when found after an unknown outcome): the
        receipt on the post, then the attempt finished."""
        ...

    def attempt_starts(self, conn: Connection, account: str, kind: str, since: datetime) -> list[datetime]:
        """The start times of the attempts of `kind` since `since`, oldest first (attempts, not successes)."""
        ...

    def lock_account(self, conn: Connection, account: str) -> None:
        """The claim's first write: the account's row, so that two claimers of one account are serialised."""
        ...

    def oldest_queued(self, conn: Connection, account: str, kind: str) -> Row | None:
        """The oldest queued content row of `kind` (every content_metadata column), or None."""
        ...

    def take(self, conn: Connection, row_id: int, now: datetime) -> int:
        """Mark the row 'posting' if it is still queued; how many rows changed (1, or 0 if another took it)."""
        ...

    def record_attempt(
        self, conn: Connection, account: str, decision_id: str, kind: str, now: datetime, token: str | None
    ) -> int:
        """The write-ahead attempt ('pending', under the lease `token`): its id."""
        ...

    def attempt_failed(self, conn: Connection, attempt_id: int, outcome: str, now: datetime, error: str) -> None:
        """The attempt ended without a receipt (`outcome`: failed, dry_run, unknown) with the error."""
        ...

    def settle(self, conn: Connection, decision_id: str, status: str, reason: str, now: datetime) -> None:
        """The post takes `status` with `reason` (after a failed attempt)."""
        ...


class PlanRecords(Protocol):
    """The planner (loop/plan.py) and the reply writer: the queue's depth, the recent texts, new content."""

    def statuses_of_text(self, conn: Connection, account: str, sha: str) -> list[str]:
        """The statuses of every content row of the account with this text's hash, however old."""
        ...

    def latest(self, conn: Connection, account: str, n: int) -> list[Row]:
        """(topic, content) of the account's `n` newest queued, posting or posted rows, newest first."""
        ...

    def content_count(self, conn: Connection, account: str) -> int:
        """How many content rows the account has (the next decision's number)."""
        ...

    def queue_depth(self, conn: Connection, account: str) -> int:
        """The account's posts (not replies) queued or posting."""
        ...

    def add_content(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert content_metadata rows (queued or skipped with the reason), in the order given."""
        ...


class ReplyRecords(Protocol):
    """The reply stage (loop/reply.py): opportunities, each stored once, scored, acted on once."""

    def last_found(self, conn: Connection, account: str) -> datetime | None:
        """The creation time of the newest opportunity stored."""
        ...

    def known(self, conn: Connection, account: str, since: datetime) -> set[str]:
        """The platform ids of the opportunities found since `since` (never stored twice)."""
        ...

    def add_opportunities(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert reply_opportunities rows."""
        ...

    def skip_stale(self, conn: Connection, account: str, oldest: datetime, min_score: float, now: datetime) -> int:
        """Skip the new opportunities created before `oldest` or scored below `min_score`; how many."""
        ...

    def candidates(self, conn: Connection, account: str) -> list[Row]:
        """The 50 best new opportunities, best first: id, platform_id, kind, author, author_followers, text,
        created_at and score."""
        ...

    def replies_waiting(self, conn: Connection, account: str) -> int:
        """The account's replies queued to post."""
        ...

    def drafted(self, conn: Connection, account: str) -> int:
        """The opportunities whose reply waits for a person."""
        ...

    def acted(
        self, conn: Connection, opportunity: int, status: str, reason: str | None, decision_id: str, now: datetime
    ) -> None:
        """The opportunity was answered by content `decision_id` (to be inserted in the same block)."""
        ...

    def opportunity(self, conn: Connection, account: str, opportunity_id: int) -> Row | None:
        """One opportunity of the account (every column), or None."""
        ...

    def approve_content(self, conn: Connection, decision_id: str, now: datetime) -> None:
        """A person approved the drafted reply: it is queued."""
        ...

    def settle_opportunity(
        self, conn: Connection, opportunity_id: int, status: str, reason: str, now: datetime
    ) -> None:
        """A person's verdict on the opportunity."""
        ...

    def listing(self, conn: Connection, account: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        """The best opportunities (of `status`), each a dict of its columns and its reply's text ('reply')."""
        ...


class MeasureRecords(Protocol):
    """The measuring stages (loop/measure.py, loop/track.py): append-only snapshots."""

    def due(
        self, conn: Connection, account: str, bands: Sequence[tuple[str, datetime, datetime]]
    ) -> list[tuple[str, str, str]]:
        """(decision_id, platform id, checkpoint) of the posted posts in a band (checkpoint, newest posted_at,
        oldest posted_at exclusive) without a snapshot at that checkpoint yet."""
        ...

    def add_metrics(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append metric_snapshots rows."""
        ...

    def add_followers(self, conn: Connection, account: str, observed_at: datetime, followers: int, source: str) -> None:
        """Append a follower snapshot."""
        ...


class AttributionRecords(Protocol):
    """Attribution (loop/attribute.py): the posts whose figures are not final, and their figures."""

    def pending(self, conn: Connection, account: str, now: datetime, since: datetime | None = None) -> list[Row]:
        """(decision_id, tweet_id, posted_at, attribution_id) of the posted posts (posted by `now`, and since
        `since`) whose figures are not final; attribution_id None before their first; by posted_at."""
        ...

    def write(
        self, conn: Connection, inserts: Sequence[Mapping[str, Any]], updates: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert the first figures of some posts, then update others' (by `key`, their decision_id)."""
        ...


class HistoryRecords(Protocol):
    """What the learning stages read (loop/history.py): posted content, metric snapshots, the follower series.
    Snapshots are only ever added, in id order: a reader keeps a mark (an id) and reads what came after."""

    def database(self, conn: Connection) -> str:
        """The database the connection reads (what a process's caches are keyed by)."""
        ...

    def posted_count(self, conn: Connection, account: str, since: datetime, now: datetime) -> int:
        """Posts and replies posted in (since, now]."""
        ...

    def snapshot_mark(self, conn: Connection, account: str, now: datetime, after: int = 0) -> int | None:
        """The id of the newest metric snapshot taken by `now` after id `after`; None if none."""
        ...

    def snapshots_between(self, conn: Connection, account: str, after: int, mark: int) -> list[Row]:
        """(decision_id, checkpoint, impressions, profile_clicks, engagements) of the snapshots with ids in
        (after, mark]."""
        ...

    def posts(self, conn: Connection, account: str, since: datetime, now: datetime, decisions: bool) -> list[Row]:
        """Posts and replies posted in (since, now], oldest first: decision_id, tweet_id, kind, posted_at, the
        dimensions; with `decisions`, propensity, propensities and policy too."""
        ...

    def topics_before(self, conn: Connection, account: str, when: datetime) -> list[str]:
        """The topics of the latest posts and replies posted by `when` (learning's RECENT_TOPICS), oldest first."""
        ...

    def latest_snapshots(self, conn: Connection, decision_ids: Sequence[str], now: datetime) -> list[Row]:
        """The newest snapshot taken by `now` of each post (as `snapshots_between`)."""
        ...

    def all_snapshots(self, conn: Connection, decision_ids: Sequence[str], now: datetime) -> list[Row]:
        """Every snapshot taken by `now` of the posts (as `snapshots_between`)."""
        ...

    def followers(self, conn: Connection, account: str, since: datetime, now: datetime) -> list[tuple[datetime, int]]:
        """(observed_at, followers) of the follower snapshots in [since, now], oldest first."""
        ...

    def recent_topics(self, conn: Connection, account: str) -> list[str]:
        """The topics of the latest content rows queued, posting or posted (RECENT_TOPICS), oldest first."""
        ...


class LearnRecords(Protocol):
    """Learn (loop/learn.py) and off-policy evaluation: the attributed figures, the performance tables."""

    def figures(self, conn: Connection, decision_ids: Sequence[str]) -> list[Row]:
        """(decision_id, attributed_followers, attributed_sd, updated_at, final) of the posts' attributions."""
        ...

    def figures_since(self, conn: Connection, account: str, since: datetime) -> list[Row]:
        """`figures` of the account's attributions of posts posted at or after `since` (a range of its index)."""
        ...

    def final_decisions(self, conn: Connection, account: str) -> set[str]:
        """The decision ids whose attribution is final."""
        ...

    def write_performance(self, conn: Connection, account: str, stats: Sequence[ValueStats], as_of: datetime) -> None:
        """Make the six performance tables these rows: upsert by value (a row keeps its id), delete the rest."""
        ...

    def performance(self, conn: Connection, account: str) -> dict[str, list[ValueStats]]:
        """The performance tables per dimension, by value (empty lists before the first learn)."""
        ...


class PolicyRecords(Protocol):
    """The planner's policy and budget (loop/policy.py, loop/spend.py)."""

    def window_deltas(self, conn: Connection, account: str) -> list[Row]:
        """The seed policy's data: each posted post's dimensions and its latest window_delta (None if none)."""
        ...

    def spent(self, conn: Connection, account: str, first_day: str, end_day: str) -> int:
        """The platform spend in micro-dollars over the days [first_day, end_day) (ISO dates)."""
        ...


class Records(Protocol):
    """Every stage's records on one database: built once per wiring (`bootstrap.make_records`) and handed to the
    stages by the jobs."""

    @property
    def post(self) -> PostRecords: ...

    @property
    def plan(self) -> PlanRecords: ...

    @property
    def reply(self) -> ReplyRecords: ...

    @property
    def measure(self) -> MeasureRecords: ...

    @property
    def attribution(self) -> AttributionRecords: ...

    @property
    def history(self) -> HistoryRecords: ...

    @property
    def learn(self) -> LearnRecords: ...

    @property
    def policy(self) -> PolicyRecords: ...
