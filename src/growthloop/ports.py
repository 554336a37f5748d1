"""The ports of docs/design.md#ports: Platform (and its CredentialCheck), Generator, Clock, and the Store.

Adapters live beside them under `growthloop.adapters`; `bootstrap.py` is the one place that picks them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from growthloop.domain import Brief, Capabilities, Draft, Mention, PostMetrics, PublishReceipt, PublishRequest

# The connection a Store's transactions yield, which its statements run on (SQLAlchemy's Connection for
# SqlStore): opaque to this floor, which imports no database library.
Connection = Any


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
