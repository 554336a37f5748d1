"""How the commands show what they got: Rich tables and lines on the console, apart from the commands that
fetch the data. With --json a command prints the same data with `print_json` instead."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from growthloop import __version__
from growthloop.adapters.store.store import SqlStore
from growthloop.audit.doctor import Check
from growthloop.cli.common import console
from growthloop.config import Settings
from growthloop.domain import DIMENSIONS
from growthloop.jobs.registry import JOBS
from growthloop.learning.drift import FORGET
from growthloop.learning.model import FollowsModel
from growthloop.loop.evaluate import Evaluation
from growthloop.loop.learn import ValueStats


def human(seconds: int) -> str:
    """An interval in its largest whole unit: 1d, 6h, 15m, 90s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def startup_banner(settings: Settings, store: SqlStore, out: Console) -> None:
    """I6: which jobs run, how often, and the configuration's fingerprint."""
    out.print(
        f"growthloop {__version__}: account [bold]{settings.account}[/bold], database {store.safe_url()}, "
        f"schema {store.current_revision()}, configuration {settings.fingerprint()}"
    )
    mode = (
        "simulated audience"
        if settings.platform == "sim"
        else ("LIVE" if settings.live else "DRY RUN (live = false: nothing is sent)")
    )
    out.print(f"  platform {settings.platform}: {mode}; writer {settings.generator}")
    for name in JOBS:
        job = settings.jobs[name]
        mark = "[green]enabled[/green]" if job.enabled else "[red]DISABLED[/red]"
        out.print(f"  {name:<10} every {human(job.interval):>4}  timeout {human(job.timeout):>4}  {mark}")


def simulation_summary(s: dict[str, Any]) -> None:
    p, f, a, lq = s["posts"], s["followers"], s["attribution"], s["learning"]
    console.print(
        f"\n[bold]Simulated {s['days']} days[/bold] ({s['start']} -> {s['end']}) in [bold]{s['wall_seconds']} s[/bold]"
    )
    console.print(
        f"posts: {p['published']} published ({p['threads']} threads), statuses {p['by_status']}, "
        f"at most {p['max_in_any_rolling_hour']} in any rolling hour"
    )
    console.print(
        f"followers: {f['first']} -> {f['last']} ({f['gained']:+d}), {f['snapshots']} snapshots, "
        f"largest gap {f['max_gap_minutes']} min"
    )
    console.print(
        f"attribution: {a['rows']} rows ({a['final']} final), "
        f"{a['posts_older_than_2h_without_row']} posts older than 2 h without a row"
    )
    console.print(f"job runs failed: {s['failed_runs']}; seconds inside each job: {s['job_seconds']}")
    table = Table(title="learned vs true (Spearman rank correlation)")
    table.add_column("dimension")
    table.add_column("values", justify="right")
    table.add_column("uses", justify="right")
    table.add_column("rho", justify="right")
    for dim in DIMENSIONS:
        rho = lq.get("spearman_values_by_dimension", {}).get(dim)
        t = lq["tables"][dim]
        table.add_row(dim, str(t["rows"]), str(t["uses"]), "n/a" if rho is None else f"{rho:+.2f}")
    console.print(table)
    console.print(
        f"values: mean rho {lq.get('spearman_values_mean')}, pooled {lq.get('spearman_values_pooled')}; "
        f"posts: attributed vs true follows rho {lq.get('spearman_posts_vs_true_follows')} "
        f"(the seed's window deltas: {lq.get('spearman_posts_naive_vs_true_follows')})"
    )


def pipeline_status(data: dict[str, Any]) -> None:
    f = data["followers"]
    console.print(
        f"[bold]account {data['account']}[/bold] at {data['now']}: followers {f['latest']} "
        f"({_signed(f['change_24h'])} in 24 h, {_signed(f['change_7d'])} in 7 d); queue {data['queue']}"
    )
    stages = Table(title="stages")
    stages.add_column("stage")
    for label in data["stages"]:
        stages.add_column(f"last {label}", justify="right")
    for stage in data["stages"]["24h"]:
        stages.add_row(stage.replace("_", " "), *[str(data["stages"][p][stage]) for p in data["stages"]])
    jobs = Table(title="jobs")
    for col in ("job", "enabled", "last run", "status", "in", "out", "next due"):
        jobs.add_column(col)
    for j in data["jobs"]:
        jobs.add_row(
            j["job"],
            ("[yellow]paused[/yellow]" if j["paused_at"] else "yes") if j["enabled"] else "[red]NO[/red]",
            _short(j["last_started"]),
            j["last_status"] or "never",
            str(j["items_in"]),
            str(j["items_out"]),
            _short(j["next_due"]),
        )
    top = Table(title="top values (posterior mean of attributed followers)")
    top.add_column("dimension")
    top.add_column("best")
    top.add_column("next")
    for dim, values in data["top_values"].items():
        cells = [f"{v['value']} {v['posterior_mean']:.3f} ({v['uses']} uses)" for v in values]
        top.add_row(dim, *(cells + ["", ""])[:2])
    console.print(stages, jobs, top)


def _signed(value: int | None) -> str:
    return "n/a" if value is None else f"{value:+d}"


def _short(iso: str | None) -> str:
    return "never" if iso is None else iso[:16].replace("T", " ")


_STATE_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def doctor_report(name: str, now: datetime, checks: list[Check]) -> None:
    table = Table(title=f"doctor: account {name} at {now.isoformat()}", show_lines=False)
    for col in ("check", "state", "measured", "expected / cause / fix"):
        table.add_column(col, overflow="fold")
    for c in checks:
        advice = (
            c.expected if c.state in ("pass", "skip") else f"expected: {c.expected}\ncause: {c.cause}\nfix: {c.fix}"
        )
        table.add_row(c.name, f"[{_STATE_STYLE[c.state]}]{c.state}[/]", c.measured, advice)
    console.print(table)
    counts = {s: sum(1 for c in checks if c.state == s) for s in ("pass", "warn", "fail", "skip")}
    console.print(
        f"{counts['fail']} failing, {counts['warn']} warning, {counts['pass']} passing, {counts['skip']} skipped"
    )


def job_list(rows: list[dict[str, Any]]) -> None:
    table = Table()
    for col in ("job", "every", "enabled", "paused", "next due", "what it does"):
        table.add_column(col)
    for r in rows:
        pause = f"by {r['paused_by']} at {r['paused_at']}" if r["paused_at"] else "no"
        table.add_row(r["job"], human(r["interval_s"]), str(r["enabled"]), pause, str(r["next_due"]), r["what"])
    console.print(table)


def reply_opportunities(rows: list[dict[str, Any]]) -> None:
    """Their text is someone else's: escaped, so that no markup in it is read."""
    table = Table()
    for col in ("id", "kind", "score", "status", "reason", "author", "their post (untrusted)", "our reply"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["kind"],
            f"{r['score']:.2f}",
            r["status"],
            escape(r["status_reason"] or ""),
            r["author"],
            escape(r["text"][:120]),
            escape((r["reply"] or "")[:120]),
        )
    console.print(table)


def performance(perf: dict[str, list[ValueStats]], dims: list[str], model: FollowsModel | None, as_of: str) -> None:
    for d in dims:
        table = Table(title=f"{d}_performance")
        for col in (
            "value",
            "uses",
            "avg impressions",
            "engagement",
            "avg followers",
            "posterior (95% CI)",
            "confidence",
        ):
            table.add_column(col, justify="right" if col != "value" else "left")
        for s in sorted(perf[d], key=lambda s: s.posterior_mean, reverse=True):
            table.add_row(
                s.value,
                str(s.uses),
                _fmt(s.avg_impressions, ".1f"),
                _fmt(s.avg_engagement_rate, ".2%"),
                _fmt(s.avg_followers, ".3f"),
                f"{s.posterior_mean:.3f} ({s.ci_low:.3f}, {s.ci_high:.3f})",
                f"{s.confidence:.2f}",
            )
        if not perf[d]:
            table.add_row("(nothing learned yet)", "", "", "", "", "", "")
        console.print(table)
    if model is not None:
        console.print(
            f"model {model.model_name} v{model.model_version}: {model.n_posts} posts and replies up to {as_of}, "
            f"surrogate {model.surrogate.replace('_', ' ')}"
        )
        if model.changed_at is not None:
            since = datetime.fromtimestamp(model.changed_at, UTC).isoformat()
            console.print(f"a change was detected: posts before {since} weigh {FORGET:g} of their discount")
        for note in model.notes:
            console.print(f"note: {note}")


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def evaluation(policy: str, result: Evaluation) -> None:
    table = Table(title=f"value of {policy!r} per post, from {result.decisions} logged decisions")
    for col in ("estimator", "followers per post", "95% interval", "effective n"):
        table.add_column(col, justify="left" if col == "estimator" else "right")
    rows = ([result.logged_value] if result.logged_value else []) + list(result.estimates.values())
    for e in rows:
        name = "as logged (" + ", ".join(result.logged_by) + ")" if e.estimator == "logged" else e.estimator
        table.add_row(name, f"{e.value:.3f}", f"({e.low:.3f}, {e.high:.3f})", f"{e.effective_n:.0f}")
    console.print(table)
    if result.quoted is not None:
        q = result.quoted
        console.print(f"estimate to quote: {q.estimator} {q.value:.3f} ({q.low:.3f}, {q.high:.3f}) per post")
    for note in result.notes:
        console.print(f"note: {note}")


def recent_content(rows: list[dict[str, Any]]) -> None:
    table = Table()
    for col in ("decision", "status", "id", "posted at", *DIMENSIONS, "text"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["decision_id"],
            r["status"] + (f" ({r['status_reason']})" if r["status_reason"] else ""),
            str(r["tweet_id"] or ""),
            str(r["posted_at"] or ""),
            *[r[d] for d in DIMENSIONS],
            r["content"][:80],
        )
    console.print(table)
