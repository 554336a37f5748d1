"""Every account of a deployment on one screen: its state (running, paused, idle) and its doctor verdict, one
line each, the failing ones first. Read by `accounts list`, `status --all-accounts` and `doctor --all-accounts`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from growthloop.accounts import Account, list_accounts, settings_for
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, follower_snapshots, job_runs
from growthloop.audit.doctor import FAIL, PASS, WARN, Check, run_doctor, worst
from growthloop.audit.metrics import LoopMetrics
from growthloop.config import Settings
from growthloop.jobs.lease import holder_alive, read_holder

RUNNING, PAUSED, IDLE = "running", "paused", "idle"
UNCHECKED = "unchecked"
_ORDER = {FAIL: 0, WARN: 1, PASS: 2, UNCHECKED: 3}


@dataclass(frozen=True)
class AccountLine:
    name: str
    platform: str
    state: str  # running (a live process holds its lease), paused, or idle
    verdict: str  # the worst doctor check: fail, warn, pass; or unchecked
    failing: list[str] = field(default_factory=list)  # the failing checks' names
    warning: list[str] = field(default_factory=list)
    holder: str | None = None  # who runs it, when running
    paused_by: str | None = None
    followers: int | None = None
    posted_24h: int = 0
    last_run: datetime | None = None
    last_status: str | None = None
    world: str | None = None
    config: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.name,
            "platform": self.platform,
            "state": self.state,
            "verdict": self.verdict,
            "failing": self.failing,
            "warning": self.warning,
            "holder": self.holder,
            "paused_by": self.paused_by,
            "followers": self.followers,
            "posted_24h": self.posted_24h,
            "last_run": self.last_run.isoformat() if self.last_run else None,
            "last_status": self.last_status,
            "world": self.world,
            "config": self.config,
        }


def doctor_all(
    store: SqlStore,
    base: Settings,
    now_for: Callable[[str], datetime],
    extra: Callable[[Settings, datetime], list[Check]] | None = None,
) -> dict[str, list[Check]]:
    """Each account's doctor checks, judged with its own settings at its own time (a simulation's virtual time)."""
    report: dict[str, list[Check]] = {}
    for account in list_accounts(store):
        settings = settings_for(account, base)
        now = now_for(account.name)
        report[account.name] = run_doctor(store, settings, account.name, now) + (extra(settings, now) if extra else [])
    return report


def overview(
    store: SqlStore,
    wall: datetime,
    now_for: Callable[[str], datetime],
    report: Mapping[str, list[Check]] | None = None,
) -> list[AccountLine]:
    """One line per account, failing first, then warning, then the rest, by name. `wall` is the real time
    (leases are wall time); `now_for(name)` the time the account's figures are read at."""
    lines = [_line(store, a, wall, now_for(a.name), (report or {}).get(a.name)) for a in list_accounts(store)]
    return sorted(lines, key=lambda line: (_ORDER.get(line.verdict, 3), line.name))


def _line(store: SqlStore, account: Account, wall: datetime, now: datetime, checks: list[Check] | None) -> AccountLine:
    cm, fs, jr = content_metadata, follower_snapshots, job_runs
    with store.connect() as conn:
        holder = read_holder(conn, account.name)
        followers = conn.execute(
            select(fs.c.followers)
            .where(fs.c.account == account.name, fs.c.observed_at <= now)
            .order_by(fs.c.observed_at.desc())
            .limit(1)
        ).scalar()
        posted = conn.execute(
            select(func.count())
            .select_from(cm)
            .where(cm.c.account == account.name, cm.c.posted_at > now - timedelta(hours=24), cm.c.posted_at <= now)
        ).scalar_one()
        last = conn.execute(
            select(jr.c.started_at, jr.c.status).where(jr.c.account == account.name).order_by(jr.c.id.desc()).limit(1)
        ).first()
    running = holder is not None and holder_alive(holder, wall)
    state = PAUSED if account.paused else RUNNING if running else IDLE
    return AccountLine(
        name=account.name,
        platform=account.platform,
        state=state,
        verdict=UNCHECKED if checks is None else worst(checks),
        failing=[c.name for c in checks or [] if c.state == FAIL],
        warning=[c.name for c in checks or [] if c.state == WARN],
        holder=holder.describe() if running and holder else None,
        paused_by=account.paused_by,
        followers=followers,
        posted_24h=int(posted),
        last_run=last.started_at if last else None,
        last_status=last.status if last else None,
        world=account.world,
        config=account.config,
    )


def refresh_metrics(metrics: LoopMetrics, store: SqlStore, report: Mapping[str, list[Check]]) -> None:
    """Every registered account's Prometheus figures, each labelled with its name (a dispatcher or a worker
    serving one endpoint for the deployment); removed accounts' series are dropped."""
    names = [a.name for a in list_accounts(store)]
    for name in names:
        metrics.update(store, name, report.get(name))
    metrics.keep_only(names)


def summary_cells(line: AccountLine, names: int = 3) -> list[str]:
    """The cells of an account's line: name, platform, state, followers, posted in 24 h, last run, checks
    (the verdict and the first failing or warning checks' names)."""
    state = f"paused by {line.paused_by}" if line.state == PAUSED and line.paused_by else line.state
    named = line.failing or line.warning
    checks = line.verdict
    if named:
        more = f" +{len(named) - names} more" if len(named) > names else ""
        checks += ": " + ", ".join(named[:names]) + more
    last = f"{line.last_run:%Y-%m-%d %H:%M} {line.last_status}" if line.last_run else "never"
    followers = "n/a" if line.followers is None else str(line.followers)
    return [line.name, line.platform, state, followers, str(line.posted_24h), last, checks]


__all__ = [
    "IDLE",
    "PAUSED",
    "RUNNING",
    "UNCHECKED",
    "AccountLine",
    "doctor_all",
    "overview",
    "refresh_metrics",
    "summary_cells",
]
