"""`growthloop doctor`: the seed's audit, automated (docs/design.md#commands).

Every check measures one thing the seed's operators had to find out by hand-written SQL, and says
pass, warn or fail, with what it measured, what was expected, the probable cause and the fix. The
checks read only the database, at the time they are given (a simulation's virtual time), so they
can run in the daemon, after a simulation, or on a copy of a production database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select, text

from growthloop import redact
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import (
    accounts,
    content_metadata,
    follower_snapshots,
    job_runs,
    job_schedule,
    metadata,
    metric_snapshots,
    performance_tables,
    post_attribution,
)
from growthloop.config import Settings
from growthloop.domain import DIMENSIONS, POSTED, POSTING, QUEUED, SKIPPED
from growthloop.jobs.pause import account_pause
from growthloop.jobs.registry import JOBS
from growthloop.loop.history import stored_model
from growthloop.loop.learn import LEARNED_STAMP
from growthloop.ports import CredentialCheck

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Check:
    name: str
    state: str
    measured: str
    expected: str
    cause: str | None = None
    fix: str | None = None

    def __post_init__(self) -> None:
        # What a check measured or blames may quote an outside message (a job's last error, a refusal).
        for name in ("measured", "cause"):
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, redact.scrub(value))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckContext:
    conn: Connection
    store: SqlStore
    settings: Settings
    account: str
    now: datetime
    since: datetime  # when the account started: nothing is expected of it before

    def interval(self, job: str) -> timedelta:
        return timedelta(seconds=self.settings.jobs[job].interval)

    def enabled(self, job: str) -> bool:
        row = self.conn.execute(
            select(job_schedule.c.enabled, job_schedule.c.paused_at).where(
                job_schedule.c.account == self.account, job_schedule.c.job == job
            )
        ).first()
        if row is None or not row.enabled or row.paused_at is not None:  # a paused job is expected to idle
            return False
        return account_pause(self.conn, self.account) is None  # and so are a paused account's jobs

    def age(self) -> timedelta:
        return self.now - self.since

    def count(self, *where: Any) -> int:
        cm = content_metadata
        return int(
            self.conn.execute(
                select(func.count()).select_from(cm).where(cm.c.account == self.account, *where)
            ).scalar_one()
        )


# -- generation and posting ----------------------------------------------------------------------------


def check_generation(c: CheckContext) -> list[Check]:
    cm = content_metadata
    out = []
    for label, span in (("24h", DAY), ("7d", 7 * DAY)):
        n = c.count(cm.c.created_at > c.now - span, cm.c.created_at <= c.now)
        expected_any = c.enabled("post") and c.age() > 2 * c.interval("plan")
        state = FAIL if expected_any and n == 0 else PASS
        out.append(
            Check(
                f"generation.{label}",
                state,
                f"{n} pieces generated in the last {label}",
                "some generation while posting is enabled" if expected_any else "nothing required yet",
                "the plan job is disabled or failing, or the queue never drains" if state == FAIL else None,
                "growthloop jobs list; growthloop jobs run plan" if state == FAIL else None,
            )
        )
    return out


def check_dimension_coverage(c: CheckContext) -> list[Check]:
    cm = content_metadata
    out = []
    recent = cm.c.created_at > c.now - 7 * DAY
    for label, where in (("generated", (recent,)), ("posted", (recent, cm.c.status == POSTED))):
        total = c.count(*where)
        complete = c.count(
            *where, *[and_(cm.c[d].is_not(None), cm.c[d].in_(c.settings.buckets[d])) for d in DIMENSIONS]
        )
        missing = total - complete
        state = FAIL if missing else PASS
        out.append(
            Check(
                f"dimensions.{label}",
                state,
                f"{complete} of {total} {label} in 7 days carry all six dimensions",
                "every piece carries a configured value of each dimension",
                None
                if state == PASS
                else "content written without its metadata (or with values outside the buckets): "
                "nothing can be learned about it (the seed had 928 of 1,376)",
                None
                if state == PASS
                else "check the planner and the [buckets] setting; growthloop posts --status queued",
            )
        )
    return out


def check_queue(c: CheckContext) -> list[Check]:
    cm = content_metadata
    generated = c.count(cm.c.created_at > c.now - DAY)
    posted = c.count(cm.c.posted_at > c.now - DAY)
    skipped = c.count(cm.c.created_at > c.now - DAY, cm.c.status == SKIPPED)
    depth = c.count(cm.c.status == QUEUED)
    last = c.conn.execute(
        select(func.max(cm.c.posted_at)).where(cm.c.account == c.account, cm.c.posted_at <= c.now)
    ).scalar()
    # A post is due every 1 h / posts_per_hour; one post interval later it is late, not just waiting.
    late_after = timedelta(hours=1) / c.settings.posts_per_hour + c.interval("post")
    waited = c.now - (last or c.since)
    stuck = c.enabled("post") and depth > 0 and waited > late_after
    out = [
        Check(
            "posting.flow",
            FAIL if stuck else PASS,
            f"queue depth {depth}; in 24 h {generated} generated, {posted} posted; last post {_ago(waited)} ago",
            f"a post at least every {_ago(late_after)} while posts are queued",
            "generation is running while posting is stuck: ready posts wait and none go out" if stuck else None,
            "growthloop jobs list (is post failing or disabled?); growthloop posts --status queued" if stuck else None,
        )
    ]
    waste = skipped / generated if generated else 0.0
    out.append(
        Check(
            "generation.waste",
            WARN if waste > 0.5 and generated >= 10 else PASS,
            f"{skipped} of {generated} drafts rejected by the gate in 24 h ({waste:.0%})",
            "at most half rejected",
            "the writer repeats itself or hits banned phrases: generation is wasted" if waste > 0.5 else None,
            "growthloop posts --status skipped shows the reasons" if waste > 0.5 else None,
        )
    )
    return out


def check_throughput(c: CheckContext) -> list[Check]:
    cm = content_metadata
    window = min(DAY, c.age())
    hours = window.total_seconds() / 3600
    capacity = c.settings.posts_per_hour * hours
    posted = c.count(cm.c.posted_at > c.now - window, cm.c.posted_at <= c.now)
    share = posted / capacity if capacity else 1.0
    low = c.enabled("post") and hours >= 2 and share < 0.5 and c.count(cm.c.status == QUEUED) > 0
    return [
        Check(
            "posting.throughput",
            WARN if low else PASS,
            f"{posted} posted in the last {hours:.1f} h, {share:.0%} of the rate limit's {capacity:.0f}",
            "close to the limit while posts are queued",
            "posting runs below capacity: the post job runs too rarely or attempts fail" if low else None,
            "growthloop jobs list; the post job's interval and its recent runs" if low else None,
        )
    ]


def check_post_rows(c: CheckContext) -> list[Check]:
    cm = content_metadata
    statuses: dict[str, int] = dict(
        c.conn.execute(select(cm.c.status, func.count()).where(cm.c.account == c.account).group_by(cm.c.status)).all()
    )
    broken = c.count(cm.c.status == POSTED, or_(cm.c.tweet_id.is_(None), cm.c.posted_at.is_(None)))
    # An attempt settles within its run, so a row still 'posting' after the job's timeout was cut off.
    grace = timedelta(seconds=c.settings.jobs["post"].timeout)
    stuck = c.count(cm.c.status == POSTING, cm.c.updated_at < c.now - grace)
    return [
        Check(
            "posting.statuses",
            PASS,
            ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) or "no content",
            "queued -> posting -> posted | failed | skipped",
        ),
        Check(
            "posting.receipts",
            FAIL if broken else PASS,
            f"{broken} posted rows without platform id or posted_at",
            "every posted row has both",
            "posts marked posted without their receipt: nothing can measure or attribute them" if broken else None,
            "find them with growthloop posts --status posted --json" if broken else None,
        ),
        Check(
            "posting.stuck",
            FAIL if stuck else PASS,
            f"{stuck} rows in 'posting' for longer than {_ago(grace)}",
            "an attempt is settled or reconciled at the next post run",
            "attempts are not settled: posts are not marked posted (a crash, or the post job fails after publishing)"
            if stuck
            else None,
            "growthloop jobs run post (it reconciles unknown outcomes first)" if stuck else None,
        ),
    ]


# -- measuring, tracking, attributing, learning ----------------------------------------------------------


def check_metrics(c: CheckContext) -> list[Check]:
    cm, ms = content_metadata, metric_snapshots
    grace = 2 * c.interval("metrics")
    out = []
    checkpoints = c.settings.checkpoint_seconds()
    for i, (name, seconds) in enumerate(checkpoints):
        later = [n for n, _ in checkpoints[i:]]
        passed = c.now - timedelta(seconds=seconds) - grace
        overdue = c.count(
            cm.c.status == POSTED,
            cm.c.posted_at <= passed,
            cm.c.posted_at > passed - DAY,
            ~exists().where(ms.c.decision_id == cm.c.decision_id, ms.c.checkpoint.in_(later)),
        )
        out.append(
            Check(
                f"metrics.{name}",
                FAIL if overdue else PASS,
                f"{overdue} posts overdue for their {name} snapshot",
                f"a snapshot within {_ago(grace)} of the {name} checkpoint",
                "metric snapshots stopped: the metrics job is disabled or failing, or the platform returns nothing"
                if overdue
                else None,
                "growthloop jobs run metrics" if overdue else None,
            )
        )
    return out


def check_followers(c: CheckContext) -> list[Check]:
    fs = follower_snapshots
    interval = c.interval("followers")
    newest = c.conn.execute(
        select(func.max(fs.c.observed_at)).where(fs.c.account == c.account, fs.c.observed_at <= c.now)
    ).scalar()
    age = c.now - (newest or c.since)
    stale = age > interval * 1.5
    times = [
        r[0]
        for r in c.conn.execute(
            select(fs.c.observed_at)
            .where(fs.c.account == c.account, fs.c.observed_at > c.now - 7 * DAY, fs.c.observed_at <= c.now)
            .order_by(fs.c.observed_at)
        )
    ]
    gaps = [b - a for a, b in zip(times, times[1:]) if b - a > 2 * interval]
    return [
        Check(
            "followers.fresh",
            FAIL if stale else PASS,
            f"newest follower snapshot {_ago(age)} old" if newest else f"no follower snapshot in {_ago(age)}",
            f"one every {_ago(interval)}",
            "follower tracking stopped: the followers job is disabled or failing, or the platform call fails"
            if stale
            else None,
            "growthloop jobs run followers" if stale else None,
        ),
        Check(
            "followers.gaps",
            WARN if gaps else PASS,
            f"{len(gaps)} gaps longer than {_ago(2 * interval)} in 7 days"
            + (f", the longest {_ago(max(gaps))}" if gaps else ""),
            "an unbroken series",
            "the daemon was down or the followers job failed for a while" if gaps else None,
            "growthloop status shows the followers job's runs" if gaps else None,
        ),
    ]


def check_attribution(c: CheckContext) -> list[Check]:
    cm, pa = content_metadata, post_attribution
    due = c.now - timedelta(hours=2) - c.interval("attribute")
    missing = c.count(
        cm.c.status == POSTED, cm.c.posted_at <= due, ~exists().where(pa.c.decision_id == cm.c.decision_id)
    )
    tolerance = max(2 * c.interval("followers"), timedelta(minutes=30))
    final_due = c.now - timedelta(hours=48) - tolerance - c.interval("attribute")
    unfinished = c.count(
        cm.c.status == POSTED,
        cm.c.posted_at <= final_due,
        ~exists().where(pa.c.decision_id == cm.c.decision_id, pa.c.final.is_(True)),
    )
    return [
        Check(
            "attribution.rows",
            FAIL if missing else PASS,
            f"{missing} posts older than 2 h without a post_attribution row",
            "a row for every post once it is 2 h old (at the next attribute run)",
            "the attribution job is not running or finds no posts (the seed had 0 rows for about 20 posts)"
            if missing
            else None,
            "growthloop jobs list; growthloop jobs run attribute" if missing else None,
        ),
        Check(
            "attribution.final",
            FAIL if unfinished else PASS,
            f"{unfinished} posts past 48 h without final figures",
            "final figures once the 48 h window closes",
            "attribution stopped completing, or follower snapshots are missing around the windows"
            if unfinished
            else None,
            "growthloop jobs run attribute" if unfinished else None,
        ),
    ]


def check_learning(c: CheckContext) -> list[Check]:
    pa = post_attribution
    attributed = int(
        c.conn.execute(
            select(func.count())
            .select_from(pa)
            .where(pa.c.account == c.account, pa.c.attributed_followers.is_not(None))
        ).scalar_one()
    )
    rows = {
        d: int(c.conn.execute(select(func.count()).select_from(t).where(t.c.account == c.account)).scalar_one())
        for d, t in performance_tables.items()
    }
    empty = [d for d, n in rows.items() if n == 0]
    out = [
        Check(
            "learning.tables",
            FAIL if empty and attributed else PASS,
            f"{sum(rows.values())} rows in the six performance tables; {attributed} attributed posts",
            "the tables filled from every attributed post",
            f"performance tables empty ({', '.join(empty)}) while posts are attributed: the loop is not learning"
            if empty and attributed
            else None,
            "growthloop jobs run learn" if empty and attributed else None,
        )
    ]
    out.append(_model_check(c, attributed))
    stamp = c.store.get_state(c.conn, c.account, LEARNED_STAMP)
    newest = c.conn.execute(select(func.max(pa.c.updated_at)).where(pa.c.account == c.account)).scalar()
    learned_at = datetime.fromisoformat(stamp) if stamp else None
    behind = (
        newest is not None
        and (learned_at is None or learned_at < newest)
        and (c.now - newest > c.interval("learn") + timedelta(minutes=5))
    )
    out.append(
        Check(
            "learning.fresh",
            FAIL if behind else PASS,
            f"tables learned at {learned_at.isoformat() if learned_at else 'never'}; newest attribution "
            f"{newest.isoformat() if newest else 'none'}",
            "learned after every attribution, within one learn interval",
            "the learn job is not running after attribution: the tables are stale" if behind else None,
            "growthloop jobs run learn" if behind else None,
        )
    )
    threshold = c.settings.learning.insight_confidence
    confident = sum(
        int(
            c.conn.execute(
                select(func.count())
                .select_from(t)
                .where(t.c.account == c.account, t.c.uses > 0, t.c.confidence >= threshold)
            ).scalar_one()
        )
        for t in performance_tables.values()
    )
    out.append(
        Check(
            "learning.confident_values",
            PASS,
            f"{confident} values with confidence >= {threshold}",
            "more as posts accumulate",
        )
    )
    cm = content_metadata
    latest = c.conn.execute(
        select(cm.c.brief_insights, cm.c.created_at).where(cm.c.account == c.account).order_by(cm.c.id.desc()).limit(1)
    ).first()
    unquoted = bool(
        confident and learned_at and latest is not None and latest.created_at > learned_at and not latest.brief_insights
    )
    out.append(
        Check(
            "learning.fed_back",
            FAIL if unquoted else PASS,
            "the newest brief quoted "
            + (f"{len(latest.brief_insights or [])} learned values" if latest else "nothing yet"),
            "briefs quote the top performers once they are confident",
            "what was learned does not reach the writer" if unquoted else None,
            "check [learning] insight_confidence and the plan job" if unquoted else None,
        )
    )
    return out


def _model_check(c: CheckContext, attributed: int) -> Check:
    """The model the planner samples from: there once posts are attributed, and what it had to do without."""
    model, as_of = stored_model(c.store, c.conn, c.account, c.settings)
    if model is None:
        missing = attributed > 0 and c.age() > 2 * c.interval("learn")
        return Check(
            "learning.model",
            FAIL if missing else PASS,
            f"no model fitted; {attributed} attributed posts",
            "a model once posts are attributed (the planner draws uniformly until then)",
            "the learn job has not fitted the model (or its row is unreadable): the policy is not learning"
            if missing
            else None,
            "growthloop jobs run learn" if missing else None,
        )
    surrogate = model.surrogate.replace("_", " ")
    return Check(
        "learning.model",
        WARN if model.notes else PASS,
        f"{model.model_name} v{model.model_version} on {model.n_posts} posts and replies up to {as_of}, "
        f"surrogate {surrogate}" + (f"; {'; '.join(model.notes)}" if model.notes else ""),
        "fitted on profile clicks, impressions and the follower series",
        "the model works with less than it needs: its estimates are less certain" if model.notes else None,
        "check the platform's metrics (profile clicks and impressions need the account's own credentials on X)"
        if model.notes
        else None,
    )


# -- jobs, spend, schema -----------------------------------------------------------------------------------


def check_jobs(c: CheckContext) -> list[Check]:
    out = []
    schedule = {r.job: r for r in c.conn.execute(select(job_schedule).where(job_schedule.c.account == c.account))}
    for job in JOBS:
        sched = schedule.get(job)
        runs = c.conn.execute(
            select(job_runs)
            .where(job_runs.c.account == c.account, job_runs.c.job == job, job_runs.c.started_at <= c.now)
            .order_by(job_runs.c.id.desc())
            .limit(20)
        ).all()
        out.append(_job_check(c, job, sched, runs))
    return out


def _job_check(c: CheckContext, job: str, sched: Any, runs: Sequence[Any]) -> Check:
    interval = c.interval(job)
    timeout = timedelta(seconds=c.settings.jobs[job].timeout)
    last = runs[0] if runs else None
    success = next((r for r in runs if r.status == "succeeded"), None)
    failures = next((i for i, r in enumerate(runs) if r.status != "failed" and r.status != "timed_out"), len(runs))
    measured = (
        f"enabled {bool(sched and sched.enabled)}, every {_ago(interval)}, last start "
        f"{last.started_at.isoformat() if last else 'never'}, last success "
        f"{success.started_at.isoformat() if success else 'never'}, {failures} consecutive failures"
    )
    expected = f"enabled, a successful run every {_ago(interval)}"
    name = f"job.{job}"
    paused = account_pause(c.conn, c.account)  # the whole account (accounts pause, or removed): nothing runs
    if paused is not None:
        return Check(
            name,
            WARN,
            measured + f", account paused by {paused.by} at {paused.at.isoformat()}",
            expected,
            f"account {c.account} is paused by {paused.by} since {paused.at.isoformat()}: none of its jobs runs",
            f"growthloop accounts resume {c.account}",
        )
    if sched is None or not sched.enabled:
        return Check(
            name,
            FAIL,
            measured,
            expected,
            f"the {job} job is not scheduled: nothing runs it",
            f"enable it: [jobs.{job}] enabled = true, then restart growthloop run",
        )
    if last is not None and last.status == "running" and c.now - last.started_at > timeout:
        return Check(
            name,
            FAIL,
            measured,
            expected,
            f"a {job} run is stuck past its {_ago(timeout)} timeout",
            "restart growthloop run; the stuck run is reaped and reported",
        )
    if sched.paused_at is not None:
        return Check(
            name,
            WARN,
            measured + f", paused by {sched.paused_by} at {sched.paused_at.isoformat()}",
            expected,
            f"the {job} job is paused by {sched.paused_by} since {sched.paused_at.isoformat()}: it does not run",
            f"growthloop jobs resume {job} (or Resume on the dashboard's Jobs page)",
        )
    if failures:
        return Check(
            name,
            FAIL,
            measured,
            expected,
            f"the {job} job fails at every run; last error: {runs[0].error}",
            f"growthloop jobs run {job}",
        )
    if c.age() > interval + timeout and (success is None or c.now - success.started_at > interval + timeout):
        return Check(
            name,
            FAIL,
            measured,
            expected,
            f"the {job} job is overdue: it has not run on schedule",
            "is growthloop run (or the simulation) running?",
        )
    flagged = [r for r in runs[:5] if r.flagged]
    if flagged:
        return Check(
            name,
            WARN,
            measured + f"; {len(flagged)} of its last runs had input but produced nothing",
            expected,
            f"the {job} job consumes input without producing anything",
            f"growthloop jobs run {job} --json",
        )
    return Check(name, PASS, measured, expected)


def check_spend(c: CheckContext) -> list[Check]:
    if c.settings.generator == "offline":
        return [Check("llm.spend", SKIP, "the offline generator spends nothing", "an LLM budget, once one is used")]
    from growthloop.adapters.generators.llm.budget import BudgetLevel, budget_state, spend_summary

    state = budget_state(c.conn, c.account, c.now, c.settings.llm)
    week = spend_summary(c.store, c.account, c.now - 7 * DAY, c.now)
    per_item = "unknown" if week.cost_per_posted_item is None else f"{week.cost_per_posted_item:.4f} USD"
    measured = (
        f"{state.today.cost_usd:.4f} USD in {state.today.calls} calls today (UTC); "
        f"cost per posted item over 7 days {per_item}"
    )
    budget = c.settings.llm.daily_budget_usd
    expected = f"within the daily budget of {budget} USD" if budget is not None else "no budget set"
    unpriced = c.settings.llm.unpriced_models()
    if state.today.unpriced_calls or unpriced:
        return [
            Check(
                "llm.spend",
                WARN,
                measured,
                expected,
                f"no price for {', '.join(unpriced) or 'a model used today'}: spend unknown and not counted "
                "against the budget",
                'add [llm.prices."<model>"] with prompt_per_1k and completion_per_1k',
            )
        ]
    if state.level == BudgetLevel.STOPPED:
        return [
            Check(
                "llm.spend",
                FAIL,
                measured,
                expected,
                f"{state.reason}: generation stopped until 00:00 UTC",
                "raise llm.daily_budget_usd, or wait for the next UTC day",
            )
        ]
    if state.level == BudgetLevel.DEGRADED:
        return [
            Check(
                "llm.spend",
                WARN,
                measured,
                expected,
                f"{state.reason}: drafts use the cheaper settings",
                "raise llm.daily_budget_usd if quality suffers",
            )
        ]
    return [Check("llm.spend", PASS, measured, expected)]


def check_platform_spend(c: CheckContext) -> list[Check]:
    from growthloop.audit.spend import platform_spend_checks  # spend/ imports this module

    return platform_spend_checks(c)


def check_schema(c: CheckContext) -> list[Check]:
    current, head = c.store.current_revision(), c.store.head_revision()
    stored = c.store.get_state(c.conn, c.account, "config_fingerprint")
    mine = c.settings.fingerprint()
    return [
        Check(
            "schema.version",
            PASS if current == head else FAIL,
            f"revision {current}",
            f"revision {head}",
            None if current == head else "the schema is behind the code",
            None if current == head else "growthloop db upgrade",
        ),
        Check(
            "config.fingerprint",
            PASS if stored in (None, mine) else WARN,
            f"this check uses configuration {mine}; the loop last started with {stored or 'none recorded'}",
            "the same configuration",
            None
            if stored in (None, mine)
            else "the running loop's configuration differs from the one doctor was given",
            None if stored in (None, mine) else "pass doctor the same --config as growthloop run",
        ),
    ]


def check_broker(c: CheckContext) -> list[Check]:
    from growthloop.distributed import health  # the workers' broker, once the account runs on them

    status = health.broker_status(c.store, c.conn, c.account, c.settings.broker_url)
    if status is None:
        return []
    if status.ok:
        return [Check("broker", PASS, status.measured, health.EXPECTED)]
    return [Check("broker", FAIL, status.measured, health.EXPECTED, health.CAUSE, health.FIX)]


DEAD_ROWS_MIN = 10_000  # fewer dead rows than this cost a look-up little, whatever the live ones


def check_vacuum(c: CheckContext) -> list[Check]:
    """PostgreSQL keeps an updated or deleted row until VACUUM removes it. The ledger, the leases and
    attribution leave such dead rows at every run, and every look-up walks them: without vacuuming, the third
    day of 200 simulated accounts ran 15 to 20 % slower (docs/distributed.md). Autovacuum does it by default;
    a server with it off must vacuum some other way. SQLite reuses the space of deleted rows: nothing to check."""
    if c.store.dialect != "postgresql":
        return []
    on = str(c.conn.execute(text("SHOW autovacuum")).scalar_one()) == "on"
    stats = c.conn.execute(
        text("SELECT relname, n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relname = ANY(:names)"),
        {"names": sorted(metadata.tables)},
    ).all()
    # the table with the most dead rows beside its live ones, among those with many dead rows if any has
    worst = max(
        stats,
        key=lambda r: (r.n_dead_tup >= DEAD_ROWS_MIN, r.n_dead_tup / max(r.n_live_tup, 1), r.n_dead_tup),
        default=None,
    )
    measured = f"autovacuum {'on' if on else 'off'}; " + (
        f"most dead rows in {worst.relname}: {worst.n_dead_tup:,} beside {worst.n_live_tup:,} live"
        if worst is not None
        else "no table statistics yet"
    )
    expected = f"in every table fewer dead rows than live ones, or under {DEAD_ROWS_MIN:,}"
    if worst is None or worst.n_dead_tup < DEAD_ROWS_MIN or worst.n_dead_tup <= worst.n_live_tup:
        return [Check("database.vacuum", PASS, measured, expected)]
    if not on:
        cause = "the server's autovacuum is off and nothing else vacuums"
        fix = "turn autovacuum on (autovacuum = on in postgresql.conf), or run VACUUM (ANALYZE) every few minutes"
    else:
        cause = "autovacuum does not keep up with the writes"
        fix = f"lower autovacuum_vacuum_scale_factor for {worst.relname} (ALTER TABLE … SET), or run VACUUM (ANALYZE)"
    return [Check("database.vacuum", WARN, measured, expected, cause, fix)]


CHECKS: tuple[Callable[[CheckContext], list[Check]], ...] = (
    check_generation,
    check_dimension_coverage,
    check_queue,
    check_throughput,
    check_post_rows,
    check_metrics,
    check_followers,
    check_attribution,
    check_learning,
    check_jobs,
    check_spend,
    check_platform_spend,
    check_schema,
    check_vacuum,
    check_broker,
)


def check_credentials(settings: Settings, store: SqlStore, now: datetime) -> Check:
    """One harmless call to the real platform (users/me on X, verify_credentials on Mastodon): do they work?"""
    from growthloop.bootstrap import make_clock, make_platform
    from growthloop.errors import GrowthloopError

    try:
        platform = make_platform(settings, store, make_clock(now))
        if not isinstance(platform, CredentialCheck):
            return Check(
                "platform.credentials", SKIP, f"{settings.platform} has no credentials", "credentials that work"
            )
        who = platform.check_credentials(now)  # through the dry-run wrapper: this call only reads
    except GrowthloopError as exc:  # every message names the variables, never a value (I10)
        return Check(
            "platform.credentials",
            FAIL,
            f"{settings.platform} refused or could not be asked: {exc}",
            "credentials that work",
            str(exc),
            "set or regenerate the named variable (or fix the named setting)",
        )
    mode = "live" if settings.live else "dry run (live = false)"
    return Check(
        "platform.credentials",
        PASS,
        f"{settings.platform} answers as @{who.username} ({mode})",
        "credentials that work",
    )


def run_doctor(store: SqlStore, settings: Settings, account: str, now: datetime) -> list[Check]:
    """Every check of one account, judged at `now`."""
    with store.connect() as conn:
        created = conn.execute(select(accounts.c.created_at).where(accounts.c.name == account)).scalar()
        first_run = conn.execute(select(func.min(job_runs.c.started_at)).where(job_runs.c.account == account)).scalar()
        if created is None:
            return [
                Check(
                    "account",
                    FAIL,
                    f"no account {account!r} in this database",
                    "a registered account",
                    "the account was never initialised here",
                    f"growthloop init --account {account}",
                )
            ]
        # A simulation's account is registered at real time but starts running in the past.
        c = CheckContext(conn, store, settings, account, now, min(created, first_run or created, now))
        return [check for fn in CHECKS for check in fn(c)]


def worst(checks: list[Check]) -> str:
    states = {c.state for c in checks}
    return FAIL if FAIL in states else WARN if WARN in states else PASS


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 48 * 60:
        return f"{minutes // 1440} d {minutes % 1440 // 60} h"
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


__all__ = ["FAIL", "PASS", "SKIP", "WARN", "Check", "run_doctor", "worst"]
