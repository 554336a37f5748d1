"""One `platform_usage` row per priced call, with X's same-UTC-day deduplication of resources.

X charges a read per resource returned, and a resource (a post, a user) charged once in a UTC day is not
charged again that day (its pricing page calls this a soft guarantee: outages may break it; growthloop
counts the guarantee as kept, so its figure is X's lower bound). Writes are charged per request.

`UsageBook` keeps, per account and platform, today's charged resources and the day's and month's totals
in memory, loaded from the table on the first call of each UTC day: a restart deduplicates like X does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, select

from growthloop.adapters.store.prepared import PreparedInsert
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import platform_usage
from growthloop.spend.prices import CATEGORIES, PriceTable

_pu = platform_usage
# Built once: a row (or two) per platform call, thousands a simulated month; SQLAlchemy's executemany of a
# freshly built insert cost five times the insert itself.
_INSERT = PreparedInsert(platform_usage)


@dataclass(frozen=True)
class Call:
    """One HTTP call as the price table sees it. `resources` are the keys of what a read returned
    ("post:ID", "user:ID"); a write counts `requests`."""

    endpoint: str
    category: str
    purpose: str
    resources: tuple[str, ...] = ()
    requests: int = 1


@dataclass(frozen=True)
class Charge:
    call: Call
    billed: tuple[str, ...]  # resources charged (not yet charged today); empty for a write
    units: int
    unit_micros: int

    @property
    def micros(self) -> int:
        return self.units * self.unit_micros


def utc_day(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d")


def utc_month(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[str, str]:
    """['YYYY-MM-01', first day of the next month): the days of `month` as `day` strings compare."""
    year, mon = int(month[:4]), int(month[5:7])
    nxt = f"{year + 1:04d}-01" if mon == 12 else f"{year:04d}-{mon + 1:02d}"
    return f"{month}-01", f"{nxt}-01"


def spent_micros(conn: Connection, account: str, first_day: str, end_day: str, platform: str | None = None) -> int:
    """Recorded cost in micro-dollars over the days [first_day, end_day)."""
    q = select(func.coalesce(func.sum(_pu.c.cost_micros), 0)).where(
        _pu.c.account == account, _pu.c.day >= first_day, _pu.c.day < end_day
    )
    if platform is not None:
        q = q.where(_pu.c.platform == platform)
    return int(conn.execute(q).scalar_one())


class UsageBook:
    def __init__(self, store: SqlStore, account: str, table: PriceTable) -> None:
        self.store, self.account, self.table = store, account, table
        self._day = ""
        self._month = ""
        self._seen: set[str] = set()
        self._span: tuple[datetime, datetime] | None = None  # the UTC day loaded, [start, end)
        self.day_micros = 0
        self.month_micros = 0

    def _load(self, now: datetime) -> None:
        span = self._span
        if span is not None and now.tzinfo is not None and span[0] <= now < span[1]:  # the day loaded, again
            return
        day, month = utc_day(now), utc_month(now)
        if day == self._day:
            return
        first, end = month_bounds(month)
        with self.store.connect() as conn:
            rows = conn.execute(
                select(_pu.c.resource_ids, _pu.c.cost_micros).where(
                    _pu.c.account == self.account, _pu.c.platform == self.table.platform, _pu.c.day == day
                )
            ).all()
            self.month_micros = spent_micros(conn, self.account, first, end, self.table.platform)
        self._seen = {str(r) for row in rows for r in (row.resource_ids or [])}
        self.day_micros = sum(int(row.cost_micros) for row in rows)
        self._day, self._month = day, month
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        self._span = (start, start + timedelta(days=1))

    def charged_today(self, resource: str, now: datetime) -> bool:
        self._load(now)
        return resource in self._seen

    def totals(self, now: datetime) -> tuple[int, int]:
        """(today's, this month's) recorded spend on this platform, micro-dollars."""
        self._load(now)
        return self.day_micros, self.month_micros

    def price(self, calls: Iterable[Call], now: datetime) -> list[Charge]:
        """What `calls` would be charged now, deduplicated against today and within themselves."""
        self._load(now)
        seen = set(self._seen)
        out = []
        for call in calls:
            unit = self.table.unit(call.category)
            if CATEGORIES[call.category].per == "resource":
                billed = tuple(dict.fromkeys(r for r in call.resources if r not in seen))
                seen.update(billed)
                out.append(Charge(call, billed, len(billed), unit))
            else:
                out.append(Charge(call, (), call.requests, unit))
        return out

    def record(self, calls: Sequence[Call], now: datetime) -> int:
        """Insert one row per call (free calls on a free platform are not recorded); the micro-dollars charged."""
        if not calls or self.table.free:
            return 0
        charges = self.price(calls, now)
        day = utc_day(now)
        rows = [
            dict(
                account=self.account,
                platform=self.table.platform,
                endpoint=c.call.endpoint,
                category=c.call.category,
                purpose=c.call.purpose,
                at=now,
                day=day,
                resources=len(c.call.resources) if CATEGORIES[c.call.category].per == "resource" else c.call.requests,
                billed=c.units,
                unit_micros=c.unit_micros,
                cost_micros=c.micros,
                resource_ids=list(c.billed),
            )
            for c in charges
        ]
        with self.store.begin() as conn:
            self.store.run_insert(conn, _INSERT, rows)
        total = sum(c.micros for c in charges)
        for c in charges:
            self._seen.update(c.billed)
        self.day_micros += total
        self.month_micros += total
        return total


@dataclass(frozen=True)
class Recount:
    """Spend per day and per purpose, recounted from the recorded calls: billed units x unit price, and the
    billed resources re-derived by replaying the same-day deduplication over the rows in order."""

    by_day: dict[str, int]
    by_purpose: dict[str, int]
    by_category: dict[str, int]
    total: int
    recorded_total: int
    dedup_mismatches: int  # rows whose billed resources differ from a replay of the deduplication


def recount(store: SqlStore, account: str) -> Recount:
    by_day: dict[str, int] = defaultdict(int)
    by_purpose: dict[str, int] = defaultdict(int)
    by_category: dict[str, int] = defaultdict(int)
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    recorded = 0
    mismatches = 0
    with store.connect() as conn:
        rows = conn.execute(select(_pu).where(_pu.c.account == account).order_by(_pu.c.id)).all()
    for row in rows:
        recorded += int(row.cost_micros)
        per_resource = CATEGORIES.get(row.category) is not None and CATEGORIES[row.category].per == "resource"
        if per_resource:
            today = seen[(row.platform, row.day)]
            billed = [r for r in dict.fromkeys(row.resource_ids or []) if r not in today]
            today.update(billed)
            if sorted(billed) != sorted(row.resource_ids or []) or len(billed) != row.billed:
                mismatches += 1
            units = len(billed)
        else:
            units = int(row.billed)
        cost = units * int(row.unit_micros)
        by_day[row.day] += cost
        by_purpose[row.purpose] += cost
        by_category[row.category] += cost
    return Recount(dict(by_day), dict(by_purpose), dict(by_category), sum(by_day.values()), recorded, mismatches)


__all__ = ["Call", "Charge", "Recount", "UsageBook", "month_bounds", "recount", "spent_micros", "utc_day", "utc_month"]
