"""The Celery app of growthloop's workers and dispatcher, configured for at-least-once delivery.

Messages are acknowledged after their task returns (`acks_late`), and a message whose worker died (kill -9,
a lost connection) goes back to the queue (`task_reject_on_worker_lost`): a slot may run twice, never zero
times, and the `job_runs` ledger's unique key makes the second run a no-op or a resumption. Results are not
stored: the ledger is the record of what ran. A worker runs one message at a time and holds one more
(`prefetch 2`), so a killed worker holds back at most two messages, both given to another worker.
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

import kombu.connection
import kombu.entity
import structlog
from celery import Celery, bootsteps
from sqlalchemy import make_url

# kombu is untyped: its classes are used through Any
_Exchange: Any = kombu.entity.Exchange
_Queue: Any = kombu.entity.Queue
_Connection: Any = kombu.connection.Connection

log = structlog.get_logger("growthloop.distributed")
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"

app = Celery("growthloop", set_as_current=False)
app.conf.update(
    broker_url=DEFAULT_BROKER,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_acks_on_failure_or_timeout=True,
    # 2, not 1: with 1 the next message came 0.5 to 2 s after the ack of the one before, now and then (measured:
    # 30 accounts x 0.1 days through 1 worker took 59 to 79 s with 1, 15 to 20 s with 2). The cause, found
    # later, was the ack waiting out the hub's poll (`RunReadyBeforePoll`); 2 stays, as measured with it. A
    # killed worker holds back 2 messages, which the broker gives to another worker as it does 1.
    worker_prefetch_multiplier=2,
    task_ignore_result=True,
    result_backend=None,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry=True,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,  # a broker outage is waited out, never the end of a worker
    broker_heartbeat=10,
    # Redis has no acknowledgement of its own: a message taken and not acknowledged within this many seconds
    # (its worker died) is given to another worker. Longer than any one task of an account's slots.
    broker_transport_options={"visibility_timeout": 120},
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    task_send_sent_event=False,
    worker_enable_remote_control=True,
    worker_cancel_long_running_tasks_on_connection_loss=False,
    enable_utc=True,
)


class RunReadyBeforePoll(bootsteps.StartStopStep):  # type: ignore[misc]  # celery is untyped
    """Run the worker's event loop's waiting callbacks before it blocks in its poll.

    kombu's hub runs the callbacks queued with `call_soon` at the top of each turn, then polls the broker's
    socket for up to a second. A solo worker runs its task inside such a callback (the one that reads the
    next message already buffered), so the task's acknowledgement and the read of the message after it are
    queued during the turn and wait out the poll: the broker holds the next message until the ack, and
    nothing on the socket ends the poll early. Measured: gaps of 0.3 to 1.9 s between messages in 2 % of a
    tick's messages, half the wall time of 20 accounts through one worker. The hub's `on_tick` callbacks run
    just before the poll; this one runs what is queued (acks and reads alike), a few rounds at most so that
    timers and other sockets still get their turn."""

    requires = ("celery.worker.components:Hub",)
    ROUNDS = 16

    def start(self, worker: Any) -> None:
        hub = getattr(worker, "hub", None)
        if hub is None:  # a pool without kombu's hub (threads, gevent) has its own loop
            return
        if not hasattr(hub, "_pop_ready"):
            log.warning("worker.hub_changed", note="kombu's hub has no _pop_ready: messages may wait up to 1 s")
            return
        hub.on_tick.add(partial(run_ready, hub, self.ROUNDS))


def run_ready(hub: Any, rounds: int) -> None:
    for _ in range(rounds):
        ready = hub._pop_ready()  # kombu has no public call for it; its own loop runs the same items this way
        if not ready:
            return
        for item in ready:
            if item:
                item()


app.steps["worker"].add(RunReadyBeforePoll)


def queue_name(database_url: str) -> str:
    """The queue of one database: workers and dispatcher of the same database meet there, others never do."""
    url = make_url(database_url)
    where = f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
    return "growthloop." + hashlib.sha256(where.encode()).hexdigest()[:10]


def configure(broker_url: str, queue: str) -> Celery:
    """Point the app at a broker and a queue (durable: a broker restart keeps its messages)."""
    if app.conf.broker_url != broker_url:
        # connections already pooled lead to the previous broker: drop them, as Celery does after a fork
        app._after_fork()
    app.conf.update(
        broker_url=broker_url,
        task_default_queue=queue,
        task_queues=[_Queue(queue, _Exchange(queue, type="direct"), routing_key=queue, durable=True)],
        task_default_exchange=queue,
        task_default_routing_key=queue,
        task_default_delivery_mode="persistent",
    )
    return app


def safe_broker(url: str) -> str:
    """The broker URL without its password."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


def broker_problem(url: str, timeout: float = 3.0) -> str | None:
    """None when the broker answers, else why not (one line, no password)."""
    try:
        with _Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - whatever the transport raises: the broker cannot be used
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"{type(exc).__name__}: {first}".rstrip(": ")
    return None


def app_info() -> dict[str, Any]:
    return {"broker": safe_broker(str(app.conf.broker_url)), "queue": app.conf.task_default_queue}
