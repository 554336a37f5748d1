"""Doctor's broker check: once an account's jobs run on workers, the broker must answer; while it does not,
doctor names the outage (the workers and the dispatcher wait for it and resume by themselves)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from growthloop.distributed.celery_app import broker_problem, safe_broker
from growthloop.distributed.dispatch import ENGINE_KEY

if TYPE_CHECKING:
    from growthloop.audit.doctor import Check, Context


def broker_check(c: Context) -> list[Check]:
    from growthloop.audit.doctor import FAIL, PASS, Check

    if c.store.get_state(c.conn, c.account, ENGINE_KEY) != "workers":
        return []  # a single process runs this account: no broker involved
    url = safe_broker(c.settings.broker_url)
    expected = "the broker answers (the account's jobs reach the workers through it)"
    problem = broker_problem(c.settings.broker_url, timeout=2.0)
    if problem is None:
        return [Check("broker", PASS, f"broker {url} answers", expected)]
    return [
        Check(
            "broker",
            FAIL,
            f"broker {url} unreachable ({problem}): no job is dispatched or run until it is back",
            expected,
            "the broker is stopped, restarting, or cut off from this host",
            "start it (RabbitMQ: rabbitmqctl start_app, or rabbitmq-server -detached); workers and dispatcher "
            "reconnect by themselves",
        )
    ]
