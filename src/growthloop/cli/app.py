"""growthloop's commands (SPEC §7)."""

from __future__ import annotations

import getpass
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from growthloop import __version__
from growthloop.adapters.clocks import RealClock, VirtualClock
from growthloop.adapters.platforms.sim.world import default_world_path, load_world
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata
from growthloop.audit.alerts import AlertNotifier, safe_host
from growthloop.audit.doctor import FAIL, Check, check_credentials, run_doctor, worst
from growthloop.audit.metrics import LoopMetrics
from growthloop.audit.spend import platform_spend, x_usage
from growthloop.audit.watch import Watchdog
from growthloop.bootstrap import (
    account_names,
    ensure_account,
    open_store,
    wire_live,
    wire_simulation,
)
from growthloop.cli.common import (
    DEBUG,
    MAX_DAYS,
    MAX_ID,
    MAX_ROWS,
    AccountOption,
    ConfigOption,
    DbOption,
    JsonOption,
    OneLineErrors,
    bounded,
    check_writable,
    console,
    database_url,
    err,
    print_json,
    settings_from,
    simulation_start,
    user_errors,
)
from growthloop.cli.lease import WaitOption, account_lease
from growthloop.cli.spend import print_spend_line
from growthloop.cli.spend import register as register_spend
from growthloop.cli.web import register as register_web
from growthloop.config import DEFAULT_CONFIG_FILE, Settings
from growthloop.domain import DIMENSIONS
from growthloop.errors import UsageError
from growthloop.jobs.lease import AccountLease
from growthloop.jobs.pause import paused_jobs, set_pause
from growthloop.jobs.registry import JOBS, describe
from growthloop.jobs.runner import manual_slot
from growthloop.jobs.scheduler import Scheduler
from growthloop.learning.drift import FORGET
from growthloop.logging import configure_logging
from growthloop.loop.evaluate import evaluate_logged
from growthloop.loop.history import stored_model
from growthloop.loop.learn import read_performance
from growthloop.loop.reply import decide_draft, list_opportunities
from growthloop.simulation import check_can_run, has_simulation, load_plan, plan_simulation, run_simulation
from growthloop.status import pipeline_status

app = typer.Typer(
    help="Run a social media account as a closed learning loop: plan, write, post, measure, attribute, learn.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)
jobs_app = typer.Typer(help="The scheduled jobs.", no_args_is_help=True)
learn_app = typer.Typer(
    help="What the loop has learned, and what other policies would have gained.", no_args_is_help=True
)
EVALUABLE = ("uniform", "seed", "bayes")
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
replies_app = typer.Typer(
    help="Reply opportunities: list them, approve or reject drafted replies.", no_args_is_help=True
)
app.add_typer(jobs_app, name="jobs")
app.add_typer(learn_app, name="learn")
app.add_typer(db_app, name="db")
app.add_typer(replies_app, name="replies")
register_web(app)  # serve, bench-web: the dashboard
register_spend(app)  # spend: what the platform calls cost


def main() -> None:
    app()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option(DEBUG, help="Show a bug's traceback (a mistake in the input is always one line).")
    ] = False,
) -> None:
    pass  # --debug is read by OneLineErrors, which handles what a command raises


def _startup_banner(settings: Settings, store: SqlStore, out: Any) -> None:
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
        out.print(f"  {name:<10} every {_human(job.interval):>4}  timeout {_human(job.timeout):>4}  {mark}")


def _human(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@app.command()
def init(
    platform: Annotated[
        str | None,
        typer.Option(
            help="Write a settings file for this platform (x, mastodon, bluesky); secrets stay in the environment"
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Create (or migrate) the database and register the account; with --platform, write growthloop.toml."""
    with user_errors():
        written = (
            None
            if platform is None
            else _write_settings_file(platform, config or Path(DEFAULT_CONFIG_FILE), account, db)
        )
        try:
            settings = settings_from(config, db, account)
            store = open_store(settings, check=False)
            store.upgrade()
            ensure_account(store, settings, datetime.now(UTC))
        except BaseException:
            if written is not None:  # the settings it wrote cannot work here: leave nothing behind
                written.unlink(missing_ok=True)
            raise
        if platform is not None and written is not None:
            _say_settings_written(platform, written)
        console.print(
            f"initialised {store.safe_url()} at schema {store.head_revision()} for account {settings.account}"
        )


def _write_settings_file(platform: str, path: Path, account: str | None, db: str | None) -> Path:
    if platform not in SETTINGS_FILES:
        raise UsageError(f"unknown platform {platform!r}; init can write settings for: {', '.join(SETTINGS_FILES)}")
    if path.exists():
        raise UsageError(f"{path} exists; not overwritten (edit it, or pass --config with a new name)")
    template, _ = SETTINGS_FILES[platform]
    path.write_text(template.format(account=account or "default", db=database_url(db) or "sqlite:///growthloop.db"))
    return path


def _say_settings_written(platform: str, path: Path) -> None:
    _, secrets = SETTINGS_FILES[platform]
    console.print(
        f"wrote {path}: platform {platform} in dry-run mode (live = false). Before going live, put the "
        "credentials in the environment or a .env file (never in the settings file):\n  "
        + "\n  ".join(secrets)
        + "\nthen check them with: growthloop doctor"
    )


X_SECRETS = (
    "GROWTHLOOP_X_API_KEY, GROWTHLOOP_X_API_SECRET, GROWTHLOOP_X_ACCESS_TOKEN, GROWTHLOOP_X_ACCESS_TOKEN_SECRET "
    "(OAuth 1.0a user context, preferred: it does not expire)",
    "or GROWTHLOOP_X_OAUTH2_USER_TOKEN (an OAuth 2.0 user token; expires after 2 hours)",
)

X_SETTINGS = """# growthloop settings for an X account. Secrets are never written here: see the README.
account = "{account}"
database_url = "{db}"
platform = "x"
live = false            # a dry run: every stage runs, publishing is logged instead of sent
posts_per_hour = 2
replies_per_hour = 4

[x]
# base_url = "https://api.x.com"
# user_id = ""          # looked up with users/me when unset
max_wait = "1m"         # the longest rate-limit wait inside a job; longer waits end the run and retry later
"""


BLUESKY_SECRETS = (
    "GROWTHLOOP_BLUESKY_HANDLE (the account's handle, e.g. name.bsky.social)",
    "GROWTHLOOP_BLUESKY_APP_PASSWORD (an app password from the account's settings, never the main password)",
)

BLUESKY_SETTINGS = """# growthloop settings for a Bluesky account. Secrets are never written here: see the README.
account = "{account}"
database_url = "{db}"
platform = "bluesky"
live = false            # a dry run: every stage runs, publishing is logged instead of sent
posts_per_hour = 2
replies_per_hour = 4

[bluesky]
# base_url = "https://bsky.social"   # the account's PDS
"""

MASTODON_SECRETS = (
    "GROWTHLOOP_MASTODON_ACCESS_TOKEN (made on the instance under Preferences > Development, scopes read and write)",
)

MASTODON_SETTINGS = """# growthloop settings for a Mastodon account. Secrets are never written here: see the README.
account = "{account}"
database_url = "{db}"
platform = "mastodon"
live = false            # a dry run: every stage runs, publishing is logged instead of sent
posts_per_hour = 2
replies_per_hour = 4

[mastodon]
# base_url = "https://mastodon.example"   # required: the account's instance
max_wait = "1m"         # the longest rate-limit wait inside a job; longer waits end the run and retry later
"""

SETTINGS_FILES = {
    "x": (X_SETTINGS, X_SECRETS),
    "mastodon": (MASTODON_SETTINGS, MASTODON_SECRETS),
    "bluesky": (BLUESKY_SETTINGS, BLUESKY_SECRETS),
}


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None, config: ConfigOption = None) -> None:
    """Migrate the database schema to this version of growthloop."""
    with user_errors():
        settings = settings_from(config, db, None)
        store = open_store(settings, check=False)
        before = store.current_revision()
        store.upgrade()
        console.print(f"schema {before or '(none)'} -> {store.current_revision()}")


@app.command()
def simulate(
    days: Annotated[
        float, typer.Option(help="Simulated days to run (0.01 to 3650).", callback=bounded(0.01, MAX_DAYS))
    ] = 30,
    world: Annotated[str | None, typer.Option(help="World file (TOML); default: the bundled default world.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; overrides the world's.", min=0, max=MAX_ID)] = None,
    start: Annotated[
        datetime | None,
        typer.Option(
            help="Virtual start (UTC, 2000 to 2100); default: the world's, else `days` before now, on the hour.",
            callback=simulation_start,
        ),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the simulation already in this database.")] = False,
    truth: Annotated[str | None, typer.Option(help="Write the simulator's ground truth to this JSON file.")] = None,
    capabilities: Annotated[
        str | None,
        typer.Option(help="Simulate this platform's capabilities (x, bluesky, mastodon); default: the world's."),
    ] = None,
    wait: WaitOption = 0,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Run the real jobs against the audience simulator on a virtual clock, then print the summary."""
    with user_errors():
        settings = settings_from(config, db, account)
        if truth:
            check_writable(truth, "--truth")
        plan = (
            None
            if resume
            else plan_simulation(
                world or settings.world,
                seed,
                days,
                start,
                _profile_name(capabilities),
            )
        )
        store = open_store(settings)
        check_can_run(store, settings.account, resume)
        configure_logging(json_output=False, quiet=True)
        with account_lease(store, settings.account, wait) as lease:
            out = err if json else console
            _startup_banner(settings, store, out)
            with Progress(
                TextColumn("simulating"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("day {task.fields[day]:.1f}"),
                TimeElapsedColumn(),
                console=out,
                transient=json,
            ) as bar:
                task = bar.add_task("sim", total=1.0, day=0.0)
                summary = run_simulation(
                    store,
                    settings,
                    plan,
                    resume,
                    progress=lambda done, total: bar.update(task, completed=done / total, day=done / 86400),
                    lease=lease,
                )
        if truth:
            _write_truth(store, settings, truth)
        if json:
            print_json(summary)
        else:
            _print_summary(summary)


def _profile_name(name: str | None) -> str | None:
    from growthloop.adapters.platforms.sim.profiles import PROFILE_NAMES

    if name is not None and name not in PROFILE_NAMES:
        raise UsageError(f"--capabilities: unknown platform {name!r} (known: {', '.join(PROFILE_NAMES)})")
    return name


def _write_truth(store: SqlStore, settings: Settings, path: str) -> None:
    import json as _json

    plan, now = load_plan(store, settings.account)
    _, platform, _ = wire_simulation(settings, store, plan.world, plan.start, now)
    with open(path, "w", encoding="utf-8") as fh:
        _json.dump(platform.ground_truth(now), fh, indent=1, default=str)


def _print_summary(s: dict[str, Any]) -> None:
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


@app.command()
def run(
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    world: Annotated[str | None, typer.Option(help="World file for the simulated platform.")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log events as JSON lines.")] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (env GROWTHLOOP_METRICS_PORT).")
    ] = None,
    wait: WaitOption = 0,
) -> None:
    """The daemon: run the scheduled jobs on the real clock until interrupted (Ctrl-C or SIGTERM).

    Every `alerts.check_every` it runs doctor, publishes the verdicts as Prometheus metrics, and posts
    a webhook alert when a check turns failing and when it recovers (once each).
    """
    with user_errors():
        settings = settings_from(config, db, account, metrics_port=metrics_port)
        store = open_store(settings)
        if has_simulation(store, settings.account):
            raise UsageError(
                f"{store.safe_url()} holds a simulation of account {settings.account!r}; "
                "continue it with `growthloop simulate --resume`, or give `run` another --db"
            )
        configure_logging(json_output=log_json)
        with account_lease(store, settings.account, wait) as lease:
            now = datetime.now(UTC)
            clock = RealClock()
            if world:
                settings = settings.model_copy(update={"world": world})
            wiring = wire_live(settings, store, clock)  # a bad world or refused credentials: nothing written
            ensure_account(store, settings, now)
            scheduler = Scheduler(wiring)
            scheduler.sync_schedule(now)
            with store.begin() as conn:
                store.set_state(conn, settings.account, "config_fingerprint", settings.fingerprint())
            _startup_banner(settings, store, console)
            metrics = LoopMetrics()
            server = None
            if settings.metrics_port is not None:
                try:
                    server, _thread = metrics.serve(settings.metrics_port)
                except OSError as exc:  # the port is taken, or needs privileges
                    raise UsageError(f"metrics port {settings.metrics_port}: cannot listen ({exc.strerror})") from None
                console.print(f"  metrics    http://127.0.0.1:{server.server_port}/metrics")
            watchdog = Watchdog(store, settings, metrics)
            console.print(
                f"  doctor     every {_human(settings.alerts.check_every)}, alerts "
                f"{'to ' + safe_host(settings.alerts.webhook_url) if settings.alerts.webhook_url else 'off'}"
            )
            watchdog.maybe_check(clock.now())
            stop = threading.Event()

            def request_stop(*_: object) -> None:
                stop.set()
                clock.wake.set()

            signal.signal(signal.SIGTERM, request_stop)
            signal.signal(signal.SIGINT, request_stop)
            try:
                scheduler.run_until(None, on_tick=partial(_between_ticks, lease, watchdog), should_stop=stop.is_set)
            finally:
                scheduler.close()
                if server is not None:
                    server.shutdown()
        console.print("stopped")


def _between_ticks(lease: AccountLease, watchdog: Watchdog, at: datetime, _outcomes: object) -> None:
    lease.maybe_renew()  # LeaseLost ends the daemon if another process took the account over
    watchdog.maybe_check(at)


def _clock_for(store: SqlStore, settings: Settings) -> VirtualClock | RealClock:
    """A simulation's database is judged at its virtual time; any other at the real time."""
    if has_simulation(store, settings.account):
        _, now = load_plan(store, settings.account)
        return VirtualClock(now)
    return RealClock()


@app.command()
def bench(
    world: Annotated[
        list[Path] | None, typer.Option(help="World file (repeatable); default: every bundled world.")
    ] = None,
    days: Annotated[
        float, typer.Option(help="Simulated days per run (0.5 to 3650).", callback=bounded(0.5, MAX_DAYS))
    ] = 30,
    seeds: Annotated[int, typer.Option(help="Random seeds per world (common to every policy).", min=1, max=1000)] = 10,
    policies: Annotated[
        str, typer.Option(help="Comma-separated: oracle, uniform, seed, bayes (oracle and uniform anchor the score).")
    ] = "oracle,uniform,seed,bayes",
    workers: Annotated[int, typer.Option(help="Processes; default: one per core.", min=1, max=256)] = os.cpu_count()
    or 2,
    capabilities: Annotated[
        list[str] | None,
        typer.Option(help="Platform whose signals the learner sees (repeatable): x, bluesky, mastodon; default x."),
    ] = None,
    through_jobs: Annotated[
        bool,
        typer.Option(
            "--through-jobs",
            help="Run bayes, seed and uniform through the real jobs on a temporary SQLite store (replies and "
            "the gate included), as `simulate` does; slower. The oracle runs in memory.",
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Run policies on simulated worlds over seeds and score them against the truth (in memory, no database;
    with --through-jobs, through the loop's jobs and store).

    Prints per world and policy: followers gained (95% interval over seeds), the normalised score
    (gain - uniform) / (oracle - uniform), regret against the oracle, days to 90% of the oracle's daily
    rate, and how well attribution ranks against the true followers; then its own running time.
    """
    from growthloop.adapters.platforms.sim.profiles import PROFILE_NAMES
    from growthloop.bench import DEFAULT_POLICIES as BENCH_POLICIES  # loaded only for this command
    from growthloop.bench import format_text, run_bench

    with user_errors():
        worlds = [Path(w) for w in world] if world else sorted(default_world_path().parent.glob("*.toml"))
        for w in worlds:
            load_world(w)  # a bad world file stops here, with its one-line error
        names = [p.strip() for p in policies.split(",") if p.strip()]
        unknown = sorted(set(names) - set(BENCH_POLICIES))
        if unknown:
            raise UsageError(f"unknown policies: {', '.join(unknown)} (known: {', '.join(BENCH_POLICIES)})")
        caps = capabilities or ["x"]
        if any(c not in PROFILE_NAMES for c in caps):
            raise UsageError(f"--capabilities: unknown platform in {caps} (known: {', '.join(PROFILE_NAMES)})")
        with Progress(
            TextColumn("benchmark"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} {task.fields[label]}"),
            TimeElapsedColumn(),
            console=err,
            transient=json,
        ) as bar:
            task = bar.add_task("bench", total=None, label="")

            def progress(done: int, total: int, label: str) -> None:
                bar.update(task, completed=done, total=total, label=label)

            result = run_bench(
                worlds,
                days=days,
                seeds=seeds,
                policies=names,
                progress=progress,
                workers=workers,
                capabilities=caps,
                through_jobs=through_jobs,
            )
        if json:
            print_json(result)
        else:
            sys.stdout.write(format_text(result) + "\n")  # a wide table: not wrapped to the terminal


@app.command()
def status(
    db: DbOption = None, config: ConfigOption = None, account: AccountOption = None, json: JsonOption = False
) -> None:
    """The pipeline at a glance: each stage's counts, the follower trend, each job's last run, top values."""
    with user_errors():
        settings = settings_from(config, db, account)
        store = open_store(settings, readonly=True)
        now = _clock_for(store, settings).now()
        data = pipeline_status(store, settings.account, now)
        data["spend"] = platform_spend(store, settings, now)
        if json:
            print_json(data)
        else:
            _print_status(data)


def _print_status(data: dict[str, Any]) -> None:
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
    print_spend_line(data["spend"])


def _signed(value: int | None) -> str:
    return "n/a" if value is None else f"{value:+d}"


def _short(iso: str | None) -> str:
    return "never" if iso is None else iso[:16].replace("T", " ")


@app.command()
def doctor(
    all_accounts: Annotated[bool, typer.Option("--all-accounts", help="Check every account in the database.")] = False,
    notify: Annotated[
        bool, typer.Option(help="Post webhook alerts for checks that turned failing or recovered since the last run.")
    ] = False,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """The seed's audit, automated: each check passes, warns or fails, with the cause and the fix.

    Exits 1 when any check fails. On a simulation's database it judges at the simulation's virtual time.
    """
    with user_errors():
        settings = settings_from(config, db, account)
        store = open_store(settings, readonly=not notify)
        names = account_names(store) if all_accounts else [settings.account]
        now = _clock_for(store, settings).now()
        report = {name: run_doctor(store, settings.model_copy(update={"account": name}), name, now) for name in names}
        if settings.platform != "sim":
            for name in names:
                report[name].append(check_credentials(settings.model_copy(update={"account": name}), store, now))
                if settings.platform == "x":  # X's usage endpoint against what was recorded (spend/)
                    report[name].append(x_usage(settings.model_copy(update={"account": name}), store, now))
        failing = any(worst(checks) == FAIL for checks in report.values())
        if notify:
            for name, checks in report.items():
                AlertNotifier(store, name, settings.alerts.webhook_url).notify(checks, now)
        if json:
            print_json(
                {
                    "now": now.isoformat(),
                    "accounts": {
                        name: {"state": worst(checks), "checks": [c.as_dict() for c in checks]}
                        for name, checks in report.items()
                    },
                }
            )
        else:
            for name, checks in report.items():
                _print_doctor(name, now, checks)
        if failing:
            raise typer.Exit(1)


_STATE_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def _print_doctor(name: str, now: datetime, checks: list[Check]) -> None:
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


@jobs_app.command("list")
def jobs_list(
    db: DbOption = None, config: ConfigOption = None, account: AccountOption = None, json: JsonOption = False
) -> None:
    """Each job with its interval, switch, pause, timeout and next due time."""
    with user_errors():
        settings = settings_from(config, db, account)
        store = open_store(settings, readonly=True)
        rows: list[dict[str, Any]] = []
        scheduled = {j.job: j for j in _scheduler_for(store, settings).schedule()}
        with store.connect() as conn:
            paused = paused_jobs(conn, settings.account)
        for name, fn in JOBS.items():
            cfg = settings.jobs[name]
            job = scheduled.get(name)
            rows.append(
                {
                    "job": name,
                    "what": describe(fn),
                    "enabled": cfg.enabled,
                    "paused_at": paused[name].at.isoformat() if name in paused else None,
                    "paused_by": paused[name].by if name in paused else None,
                    "interval_s": cfg.interval,
                    "timeout_s": cfg.timeout,
                    "next_due": job.next_due.isoformat() if job else None,
                }
            )
        if json:
            print_json(rows)
            return
        table = Table()
        for col in ("job", "every", "enabled", "paused", "next due", "what it does"):
            table.add_column(col)
        for r in rows:
            pause = f"by {r['paused_by']} at {r['paused_at']}" if r["paused_at"] else "no"
            table.add_row(r["job"], _human(r["interval_s"]), str(r["enabled"]), pause, str(r["next_due"]), r["what"])
        console.print(table)


def _scheduler_for(store: SqlStore, settings: Settings) -> Scheduler:
    clock = _clock_for(store, settings)
    if has_simulation(store, settings.account):
        plan, now = load_plan(store, settings.account)
        wiring, _, _ = wire_simulation(
            settings.model_copy(update={"seed": plan.world.seed}), store, plan.world, plan.start, now
        )
    else:
        wiring = wire_live(settings, store, clock, save_origin=False)
    return Scheduler(wiring)


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(JOBS)}")],
    wait: WaitOption = 0,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Run one job once, now, and record the run like any scheduled one."""
    with user_errors():
        if name not in JOBS:
            raise UsageError(f"unknown job {name!r}; known jobs: {', '.join(JOBS)}")
        settings = settings_from(config, db, account)
        store = open_store(settings)
        configure_logging(json_output=False, quiet=json)
        with account_lease(store, settings.account, wait):
            scheduler = _scheduler_for(store, settings)  # a bad world or writer setting is refused before any write
            ensure_account(store, settings, datetime.now(UTC))
            try:
                now = scheduler.w.clock.now()
                outcome = scheduler.runner.run(name, manual_slot(store, settings.account, name, now))
            finally:
                scheduler.close()
        data = {
            "job": name,
            "status": outcome.status,
            "error": outcome.error,
            "items_in": outcome.result.items_in if outcome.result else None,
            "items_out": outcome.result.items_out if outcome.result else None,
            "idle_reason": outcome.result.idle_reason if outcome.result else None,
        }
        if json:
            print_json(data)
        else:
            console.print(data)
        if outcome.status in ("failed", "timed_out"):
            raise typer.Exit(1)


@jobs_app.command("pause")
def jobs_pause(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(JOBS)}")],
    by: Annotated[str | None, typer.Option(help="Who pauses it, shown by doctor (default: the login name).")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Pause one job until `jobs resume`: a running `growthloop run` skips it from its next tick on."""
    _set_pause(name, by or _login(), db, config, account)


@jobs_app.command("resume")
def jobs_resume(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(JOBS)}")],
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Resume a paused job: it runs again at its next due time."""
    _set_pause(name, None, db, config, account)


def _set_pause(name: str, by: str | None, db: str | None, config: Path | None, account: str | None) -> None:
    with user_errors():
        if name not in JOBS:
            raise UsageError(f"unknown job {name!r}; known jobs: {', '.join(JOBS)}")
        if by is not None and not 0 < len(by) <= 64:
            raise UsageError("option --by: give a name of 1 to 64 characters")
        settings = settings_from(config, db, account)
        store = open_store(settings)
        set_pause(store, settings, name, _clock_for(store, settings).now(), by)
        console.print(f"{name} {'paused' if by else 'resumed'} on account {settings.account}")


def _login() -> str:
    try:
        return getpass.getuser()[:64] or "unknown"
    except (KeyError, OSError):  # no login name in this environment (a container without a passwd entry)
        return "unknown"


@replies_app.command("list")
def replies_list(
    status: Annotated[
        str | None, typer.Option(help="Only this status: new, drafted, queued, rejected, skipped.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, best score first.", min=1, max=MAX_ROWS)] = 20,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Reply opportunities with their score, status and drafted reply. Their text is someone else's."""
    with user_errors():
        settings = settings_from(config, db, account)
        store = open_store(settings, readonly=True)
        rows = list_opportunities(store, settings.account, status, limit)
        if json:
            print_json(rows)
            return
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


@replies_app.command("approve")
def replies_approve(
    opportunity: Annotated[int, typer.Argument(help="The id shown by `growthloop replies list`.", min=1, max=MAX_ID)],
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Queue a drafted reply: the post job publishes it within the reply rate limit."""
    _decide(opportunity, True, db, config, account)


@replies_app.command("reject")
def replies_reject(
    opportunity: Annotated[int, typer.Argument(help="The id shown by `growthloop replies list`.", min=1, max=MAX_ID)],
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Reject a drafted reply: it is never posted."""
    _decide(opportunity, False, db, config, account)


def _decide(opportunity: int, approve: bool, db: str | None, config: Path | None, account: str | None) -> None:
    with user_errors():
        settings = settings_from(config, db, account)
        store = open_store(settings)
        try:
            state = decide_draft(store, settings.account, opportunity, approve, _clock_for(store, settings).now())
        except (LookupError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        console.print(f"reply opportunity {opportunity}: {state}")


@learn_app.command("show")
def learn_show(
    dimension: Annotated[str | None, typer.Option(help=f"Only this one of: {', '.join(DIMENSIONS)}")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """The performance tables: per value, uses, averages, posterior mean with its 95% interval, confidence."""
    with user_errors():
        if dimension is not None and dimension not in DIMENSIONS:
            raise UsageError(f"unknown dimension {dimension!r}; known: {', '.join(DIMENSIONS)}")
        settings = settings_from(config, db, account)
        store = open_store(settings, readonly=True)
        with store.connect() as conn:
            perf = read_performance(conn, settings.account)
            model, as_of = stored_model(store, conn, settings.account, settings)
        dims = [dimension] if dimension else list(DIMENSIONS)
        if json:
            print_json({d: [vars(s) | {} for s in perf[d]] for d in dims})
            return
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


@learn_app.command("evaluate")
def learn_evaluate(
    policy: Annotated[
        str, typer.Option(help="The policy to evaluate: bayes (ours, as learned now), seed (the old design), uniform.")
    ] = "uniform",
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """What POLICY would have gained per post, estimated off-line from the logged decisions and their
    propensities: IPS, self-normalised IPS, doubly robust (with the learned model), pseudo-inverse."""
    with user_errors():
        if policy not in EVALUABLE:
            raise UsageError(f"unknown policy {policy!r}; known: {', '.join(EVALUABLE)}")
        settings = settings_from(config, db, account)
        store = open_store(settings, readonly=True)
        result = evaluate_logged(store, settings, settings.account, policy, _clock_for(store, settings).now())
        if json:
            print_json(
                {
                    "policy": policy,
                    "decisions": result.decisions,
                    "logged_by": result.logged_by,
                    "logged_value": result.logged_value.as_dict() if result.logged_value else None,
                    "estimates": {k: e.as_dict() for k, e in result.estimates.items()},
                    "notes": result.notes,
                }
            )
            return
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


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


@app.command()
def posts(
    status: Annotated[str | None, typer.Option(help="Only posts with this status.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1, max=MAX_ROWS)] = 20,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
    json: JsonOption = False,
) -> None:
    """Recent content: status, platform id, dimensions and text."""
    with user_errors():
        settings = settings_from(config, db, account)
        store = open_store(settings, readonly=True)
        cm = content_metadata
        query = select(cm).where(cm.c.account == settings.account).order_by(cm.c.id.desc()).limit(limit)
        if status:
            query = query.where(cm.c.status == status)
        with store.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        if json:
            print_json(rows)
            return
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
