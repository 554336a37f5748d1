"""The workers' event loop runs what a turn queued before it blocks in its poll (`RunReadyBeforePoll`): a solo
worker's acknowledgement and its read of the next buffered message are queued while a task runs, and kombu's
hub would otherwise leave them until its poll times out (up to a second between two messages). Checked on
kombu's own hub, so that a change in kombu shows here rather than as a slower benchmark."""

from __future__ import annotations

import socket
from functools import partial
from typing import Any

from kombu.asynchronous.hub import Hub

from growthloop.distributed.celery_app import RunReadyBeforePoll, app, run_ready


def _one_turn(hub: Any) -> list[list[str]]:
    """Run one turn of the hub's loop; returns what had run each time it polled."""
    ran: list[str] = []
    polled: list[list[str]] = []

    def task() -> None:  # as a solo worker's task: its ack is queued while the turn runs
        ran.append("task")
        hub.call_soon(lambda: ran.append("ack"))

    hub.call_soon(task)
    real_poll = hub.poller.poll

    def poll(timeout: float) -> Any:
        polled.append(list(ran))
        return real_poll(0)

    hub.poller.poll = poll
    next(hub.create_loop())
    return polled


def _hub_with_a_socket() -> tuple[Hub, socket.socket, socket.socket]:
    hub = Hub()
    a, b = socket.socketpair()
    hub.add_reader(a, lambda: None)  # the broker's socket, with nothing to read
    return hub, a, b


def test_the_ack_queued_during_a_turn_is_sent_before_the_poll() -> None:
    hub, a, b = _hub_with_a_socket()
    try:
        hub.on_tick.add(partial(run_ready, hub, RunReadyBeforePoll.ROUNDS))
        assert _one_turn(hub) == [["task", "ack"]]
    finally:
        hub.close()
        a.close()
        b.close()


def test_without_it_the_ack_waits_out_the_poll() -> None:
    """What the step is for: kombu's loop alone polls with the ack still queued (if kombu fixes this, the step
    can go)."""
    hub, a, b = _hub_with_a_socket()
    try:
        assert _one_turn(hub) == [["task"]]
    finally:
        hub.close()
        a.close()
        b.close()


def test_a_callback_that_queues_itself_forever_does_not_hold_the_loop() -> None:
    hub = Hub()
    calls = []

    def again() -> None:
        calls.append(1)
        hub.call_soon(again)

    hub.call_soon(again)
    run_ready(hub, 5)
    assert len(calls) == 5


def test_every_worker_of_the_app_has_the_step() -> None:
    assert RunReadyBeforePoll in app.steps["worker"]
