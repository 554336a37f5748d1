"""What each page shows, read through the store and the stages' own readers (never SQL built from strings).

Every function takes a `Scope` (the store, one account's settings, the time the account is judged at) and
returns plain data for a template. Bad requests raise `BadRequest` (400), unknown things `NotFound` (404).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select

from growthloop.adapters.platforms.sim.audience import Audience
from growthloop.adapters.store.records import SqlRecords
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import (
    content_metadata,
    follower_snapshots,
    job_runs,
    job_schedule,
    metric_snapshots,
    post_attribution,
    reply_opportunities,
)
from growthloop.audit.doctor import run_doctor
from growthloop.config import Settings
from growthloop.domain import DIMENSIONS, POSTED, epoch_seconds, from_epoch_seconds
from growthloop.jobs.pause import paused_jobs
from growthloop.jobs.registry import JOBS, describe
from growthloop.learning import Context
from growthloop.loop.evaluate import Evaluation, evaluate_logged
from growthloop.loop.history import recent_topics, stored_model
from growthloop.loop.learn import LEARNED_STAMP, read_performance
from growthloop.loop.policy import current_policy
from growthloop.loop.reply import DRAFTED, list_opportunities
from growthloop.ports import Clock
from growthloop.simulation import load_plan
from growthloop.status import pipeline_status
from growthloop.web.guard import scrub

STATE_ORDER = {"fail": 0, "warn": 1, "pass": 2, "skip": 3}
POLICIES = ("uniform", "seed", "bayes")
PAGE_SIZE = 50
MAX_ID = 2**31 - 1  # the id columns are 32-bit integers on PostgreSQL
SHOWN = 50  # reply opportunities per table, best score first
STATUSES = ("queued", "posting", "posted", "failed", "skipped")
KINDS = ("post", "reply")
REPLY_STATUSES = ("new", "drafted", "queued", "rejected", "skipped")
RUN_WINDOW = timedelta(days=7)  # the jobs page plots and summarises the runs of the last week


class BadRequest(ValueError):
    """A malformed request: a 400 page naming the parameter."""


class NotFound(LookupError):
    """An unknown account, post or opportunity: a 404 page."""


@dataclass
class PageCache:
    """What the dashboard keeps between requests, owned by the app that `create_app` builds (one per store):
    computed pages, off-policy evaluations and the simulator's truth (see `cached`, `learning`)."""

    pages: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    evaluations: dict[tuple[str, str], dict[str, Evaluation]] = field(default_factory=dict)
    truths: dict[tuple[str, str], dict[str, dict[str, float]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    store: SqlStore
    settings: Settings  # the account's settings (`settings.account` is the account)
    accounts: tuple[str, ...]
    now: datetime
    simulated: bool
    cache: PageCache = field(default_factory=PageCache)

    @property
    def account(self) -> str:
        return self.settings.account


def judged_at(store: SqlStore, account: str, clock: Clock) -> tuple[datetime, bool]:
    """A simulation's account is judged at its virtual time (as `status` and `doctor` do), any other now."""
    with store.connect() as conn:
        if store.get_state(conn, account, "sim_world_text") is None:
            return clock.now(), False
        return datetime.fromisoformat(store.get_state(conn, account, "virtual_now")), True


# -- the pages' cache ------------------------------------------------------------------------------------
# The overview (doctor's checks above all) and the jobs page take hundreds of milliseconds on a month of data,
# and change only when a job runs (every run leaves a row: a new run adds one, a finished run sets its end),
# when a job is paused or resumed, or as time passes. So they are kept per (page, database, account, last run
# and paused jobs, minute of the judging time).
KEPT = 256  # entries per cache, at most
T = TypeVar("T")


def runs_mark(scope: Scope) -> str:
    jr = job_runs
    with scope.store.connect() as conn:
        last, finished = conn.execute(
            select(func.max(jr.c.id), func.count(jr.c.finished_at)).where(jr.c.account == scope.account)
        ).one()
        paused = ",".join(sorted(paused_jobs(conn, scope.account)))
    return f"{last}:{finished}:{paused}"


def cached(page: str, scope: Scope, compute: Callable[[Scope], dict[str, Any]]) -> dict[str, Any]:
    key = (page, scope.account, runs_mark(scope), scope.now.strftime("%Y-%m-%dT%H:%M"))
    return _kept(scope.cache.pages, key, lambda: compute(scope))


def _kept(cache: dict[Any, T], key: Any, compute: Callable[[], T]) -> T:
    """The cached value, or a fresh one kept. Pages run in threads: the cache may be cleared meanwhile."""
    found = cache.get(key)
    if found is None:
        found = compute()
        if len(cache) >= KEPT:
            cache.clear()
        cache[key] = found
    return found


# -- overview -------------------------------------------------------------------------------------------
def overview(scope: Scope) -> dict[str, Any]:
    store, account, now = scope.store, scope.account, scope.now
    status = pipeline_status(store, account, now)
    checks = sorted(run_doctor(store, scope.settings, account, now), key=lambda c: STATE_ORDER.get(c.state, 9))
    cm, pa, fs = content_metadata, post_attribution, follower_snapshots
    with store.connect() as conn:
        series = conn.execute(
            select(fs.c.observed_at, fs.c.followers)
            .where(fs.c.account == account, fs.c.observed_at <= now)
            .order_by(fs.c.observed_at)
        ).all()
        posts = conn.execute(
            select(cm.c.id, cm.c.posted_at, cm.c.topic, cm.c.content, pa.c.attributed_followers, pa.c.attributed_sd)
            .outerjoin(pa, pa.c.decision_id == cm.c.decision_id)
            .where(cm.c.account == account, cm.c.kind == "post", cm.c.status == POSTED, cm.c.posted_at <= now)
            .order_by(cm.c.posted_at)
        ).all()
    times = [r.observed_at for r in series]
    marks = []
    for p in posts:
        i = bisect.bisect_right(times, p.posted_at) - 1
        marks.append(
            {
                "id": p.id,
                "at": p.posted_at,
                "followers": series[i].followers if i >= 0 else None,
                "topic": p.topic,
                "text": p.content[:80],
                "attributed": p.attributed_followers,
                "sd": p.attributed_sd,
            }
        )
    counts = Counter(c.state for c in checks)
    return {"status": status, "checks": checks, "check_counts": counts, "series": series, "marks": marks}


# -- posts ----------------------------------------------------------------------------------------------
SORTS = {
    "id": content_metadata.c.id,
    "posted_at": content_metadata.c.posted_at,
    "status": content_metadata.c.status,
    "kind": content_metadata.c.kind,
    "attributed": post_attribution.c.attributed_followers,
    **{d: content_metadata.c[d] for d in DIMENSIONS},
}


@dataclass(frozen=True)
class PostQuery:
    status: str | None = None
    kind: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    sort: str = "id"
    descending: bool = True
    page: int = 1

    def params(self, **change: Any) -> dict[str, str]:
        """The query string of this query with some fields changed (for sort links and paging)."""
        fields = {
            "status": self.status,
            "kind": self.kind,
            **dict(self.dimensions),
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "page": str(self.page),
        }
        fields.update({k: v for k, v in change.items()})
        return {k: str(v) for k, v in fields.items() if v not in (None, "")}


def parse_post_query(params: Mapping[str, str], settings: Settings) -> PostQuery:
    def choice(name: str, allowed: tuple[str, ...] | list[str]) -> str | None:
        value = params.get(name) or None
        if value is not None and value not in allowed:
            raise BadRequest(f"query parameter {name!r}: {value!r} is not one of {', '.join(allowed)}")
        return value

    dims = tuple((d, v) for d in DIMENSIONS if (v := choice(d, settings.buckets[d])) is not None)
    order = choice("order", ("asc", "desc")) or "desc"
    return PostQuery(
        status=choice("status", STATUSES),
        kind=choice("kind", KINDS),
        dimensions=dims,
        sort=choice("sort", tuple(SORTS)) or "id",
        descending=order == "desc",
        page=positive_int(params, "page", 1, 100_000),
    )


def positive_int(params: Mapping[str, str], name: str, default: int, most: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise BadRequest(f"query parameter {name!r}: {raw[:40]!r} is not a whole number from 1 to {most}")
    return int(raw)


def row_id(value: int, what: str) -> int:
    """An id from a URL: beyond the columns' range (32-bit on PostgreSQL) nothing can have it."""
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"no {what} {value}")
    return value


def posts_page(scope: Scope, q: PostQuery) -> dict[str, Any]:
    cm, pa = content_metadata, post_attribution
    where = [cm.c.account == scope.account]
    if q.status:
        where.append(cm.c.status == q.status)
    if q.kind:
        where.append(cm.c.kind == q.kind)
    where += [cm.c[d] == v for d, v in q.dimensions]
    key = SORTS[q.sort]
    order = key.desc().nulls_last() if q.descending else key.asc().nulls_first()
    query = (
        select(cm, pa.c.attributed_followers, pa.c.attributed_sd, pa.c.final)
        .outerjoin(pa, pa.c.decision_id == cm.c.decision_id)
        .where(*where)
        .order_by(order, cm.c.id.desc())
        .limit(PAGE_SIZE)
        .offset((q.page - 1) * PAGE_SIZE)
    )
    with scope.store.connect() as conn:
        total = conn.execute(select(func.count()).select_from(cm).where(*where)).scalar_one()
        rows = [dict(r._mapping) for r in conn.execute(query)]
        metrics = _checkpoint_metrics(conn, [r["decision_id"] for r in rows])
    for r in rows:
        r["metrics"] = metrics.get(r["decision_id"], {})
    return {
        "rows": rows,
        "total": total,
        "pages": max(1, math.ceil(total / PAGE_SIZE)),
        "checkpoints": scope.settings.checkpoints,
    }


def _checkpoint_metrics(conn: Any, decision_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not decision_ids:
        return {}
    ms = metric_snapshots
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in conn.execute(
        select(ms.c.decision_id, ms.c.checkpoint, ms.c.impressions, ms.c.likes, ms.c.profile_clicks).where(
            ms.c.decision_id.in_(decision_ids)
        )
    ):
        out[r.decision_id][r.checkpoint] = r
    return out


def post_detail(scope: Scope, post_id: int) -> dict[str, Any]:
    cm, pa, ms, ro = content_metadata, post_attribution, metric_snapshots, reply_opportunities
    with scope.store.connect() as conn:
        row = conn.execute(select(cm).where(cm.c.account == scope.account, cm.c.id == post_id)).first()
        if row is None:
            raise NotFound(f"no post {post_id} for account {scope.account!r}")
        snapshots = conn.execute(
            select(ms)
            .where(ms.c.account == scope.account, ms.c.decision_id == row.decision_id)
            .order_by(ms.c.observed_at)
        ).all()
        attribution = conn.execute(select(pa).where(pa.c.decision_id == row.decision_id)).first()
        opportunity = conn.execute(
            select(ro).where(ro.c.account == scope.account, ro.c.decision_id == row.decision_id)
        ).first()
    return {"post": row, "snapshots": snapshots, "attribution": attribution, "opportunity": opportunity}


# -- learning -------------------------------------------------------------------------------------------
# The three evaluations take seconds on a month and the simulator's truth tens of milliseconds; they change
# only when learn writes new tables (its stamp) or the simulation moves on, so they are kept per (account,
# stamp) and per (account, virtual time).


def learning(scope: Scope) -> dict[str, Any]:
    store, account, settings = scope.store, scope.account, scope.settings
    records = SqlRecords(store)
    with store.connect() as conn:
        performance = read_performance(records, conn, account, store)
        model, as_of = stored_model(store, conn, account, settings)
        stamp = str(store.get_state(conn, account, LEARNED_STAMP))
        policy = current_policy(store, records, conn, settings, account)
        context = Context(
            at=epoch_seconds(scope.now), hour=scope.now.hour, recent_topics=recent_topics(records, conn, account)
        )
    distribution = policy.distribution(context)
    probabilities = {
        dim: dict(zip(settings.buckets[dim], (float(p) for p in distribution[dim]), strict=False))
        for dim in DIMENSIONS
        if dim in distribution
    }
    key = (account, f"{stamp}|{settings.fingerprint()}")
    evaluations = _kept(
        scope.cache.evaluations,
        key,
        lambda: {p: evaluate_logged(store, records, settings, account, p, scope.now) for p in POLICIES},
    )
    truth = simulator_truth(scope) if scope.simulated else None
    return {
        "performance": performance,
        "model": model,
        "model_as_of": as_of,
        "changed_at": from_epoch_seconds(model.changed_at) if model and model.changed_at else None,
        "policy_name": settings.learning.policy,
        "probabilities": probabilities,
        "evaluations": evaluations,
        "truth": truth,
        "uniform_truth": _uniform_truth(truth),
    }


def simulator_truth(scope: Scope) -> dict[str, dict[str, float]]:
    """The world's true expected follows per dimension value at the simulation's time (report.py's truth)."""
    key = (scope.account, scope.now.isoformat())
    return _kept(scope.cache.truths, key, lambda: _truth(scope))


def _truth(scope: Scope) -> dict[str, dict[str, float]]:
    plan, _ = load_plan(scope.store, scope.account)
    audience = Audience(plan.world, origin=plan.start)
    effects = audience.true_effects(audience.day_index(scope.now))
    return {dim: {v: e["expected_follows"] for v, e in values.items()} for dim, values in effects.items()}


def _uniform_truth(truth: dict[str, dict[str, float]] | None) -> float | None:
    """Posting uniformly at random is worth the average over any dimension's values (each is a marginal
    over the others, uniform): the one policy whose true value the truth gives directly."""
    if not truth:
        return None
    values = next(iter(truth.values())).values()
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


# -- jobs -----------------------------------------------------------------------------------------------
def jobs(scope: Scope) -> dict[str, Any]:
    jr, js = job_runs, job_schedule
    since = scope.now - RUN_WINDOW
    with scope.store.connect() as conn:
        schedule = {r.job: r for r in conn.execute(select(js).where(js.c.account == scope.account))}
        totals: dict[str, Counter[str]] = defaultdict(Counter)
        for job, status, n in conn.execute(
            select(jr.c.job, jr.c.status, func.count())
            .where(jr.c.account == scope.account)
            .group_by(jr.c.job, jr.c.status)
        ):
            totals[job][status] += n
        recent = conn.execute(
            select(jr.c.job, jr.c.started_at, jr.c.status, jr.c.wall_ms, jr.c.items_in, jr.c.items_out)
            .where(jr.c.account == scope.account, jr.c.started_at > since, jr.c.started_at <= scope.now)
            .order_by(jr.c.started_at)
        ).all()
        failed = conn.execute(
            select(jr)
            .where(jr.c.account == scope.account, jr.c.status.in_(("failed", "timed_out")))
            .order_by(jr.c.started_at.desc())
            .limit(20)
        ).all()
    failures = [dict(f._mapping) | {"error": scrub(f.error)} for f in failed]
    by_job: dict[str, list[Any]] = defaultdict(list)
    for r in recent:
        by_job[r.job].append(r)
    rows = []
    for name, fn in JOBS.items():
        runs = by_job.get(name, [])
        durations = [r.wall_ms for r in runs if r.wall_ms is not None]
        sched = schedule.get(name)
        rows.append(
            {
                "job": name,
                "what": describe(fn),
                "enabled": sched.enabled if sched else None,
                "paused_at": sched.paused_at if sched else None,
                "paused_by": sched.paused_by if sched else None,
                "interval_s": sched.interval_s if sched else None,
                "next_due": sched.next_due if sched else None,
                "totals": dict(totals.get(name, {})),
                "recent": len(runs),
                "median_ms": statistics.median(durations) if durations else None,
                "max_ms": max(durations) if durations else None,
                "last": runs[-1] if runs else None,
            }
        )
    return {"rows": rows, "recent": recent, "failures": failures, "since": since}


# -- replies --------------------------------------------------------------------------------------------
def replies(scope: Scope, status: str | None) -> dict[str, Any]:
    if status is not None and status not in REPLY_STATUSES:
        raise BadRequest(f"query parameter 'status': {status[:40]!r} is not one of {', '.join(REPLY_STATUSES)}")
    records = SqlRecords(scope.store)
    drafted = list_opportunities(scope.store, records, scope.account, DRAFTED, SHOWN)
    others = list_opportunities(
        scope.store, records, scope.account, status, SHOWN + (len(drafted) if status is None else 0)
    )
    if status is None:
        others = [r for r in others if r["status"] != DRAFTED]
    return {"drafted": drafted, "others": others[:SHOWN], "status": status, "shown": SHOWN}


def opportunity_status(scope: Scope, opportunity_id: int) -> str | None:
    ro = reply_opportunities
    with scope.store.connect() as conn:
        return conn.execute(
            select(ro.c.status).where(ro.c.account == scope.account, ro.c.id == opportunity_id)
        ).scalar()
