"""`growthloop run`: the daemon that runs the scheduled jobs on the real clock until it is stopped."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

import typer

from growthloop.adapters.clocks import RealClock
from growthloop.audit.alerts import safe_host
from growthloop.audit.metrics import LoopMetrics
from growthloop.audit.watch import Watchdog
from growthloop.bootstrap import ensure_account, wire_live
from growthloop.cli import render
from growthloop.cli.common import AccountOption, ConfigOption, DbOption, console, user_errors
from growthloop.cli.lease import WaitOption, account_lease
from growthloop.cli.session import session
from growthloop.errors import UsageError
from growthloop.jobs.lease import AccountLease
from growthloop.jobs.scheduler import Scheduler
from growthloop.logging import configure_logging
from growthloop.simulation import has_simulation


def run(
    ctx: typer.Context,
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
    s = session(ctx)
    with user_errors():
        s.override(metrics_port=metrics_port)
        settings = s.settings
        store = s.open_store()
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
            render.startup_banner(settings, store, console)
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
                f"  doctor     every {render.human(settings.alerts.check_every)}, alerts "
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
