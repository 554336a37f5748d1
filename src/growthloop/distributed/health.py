"""Doctor's broker check: once an account's jobs run on workers, the broker must answer; while it does not,
doctor names the outage (the workers and the dispatcher wait for it and resume by themselves)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from growthloop.adapters.store.store import SqlStore
from growthloop.distributed.celery_app import broker_problem, safe_broker
from growthloop.distributed.dispatch import ENGINE_KEY

EXPECTED = "the broker answers (the account's jobs reach the workers through it)"
CAUSE = "the broker is stopped, restarting, or cut off from this host"
FIX = (
    "start it (RabbitMQ: rabbitmqctl start_app, or rabbitmq-server -detached); workers and dispatcher "
    "reconnect by themselves"
)


@dataclass(frozen=True)
class BrokerStatus:
    ok: bool
    measured: str


def broker_status(store: SqlStore, conn: Connection, account: str, broker_url: str) -> BrokerStatus | None:
    """None when a single process runs the account (no broker involved); else whether the broker answers."""
    if store.get_state(conn, account, ENGINE_KEY) != "workers":
        return None
    url = safe_broker(broker_url)
    problem = broker_problem(broker_url, timeout=2.0)
    if problem is None:
        return BrokerStatus(True, f"broker {url} answers")
    return BrokerStatus(False, f"broker {url} unreachable ({problem}): no job is dispatched or run until it is back")
