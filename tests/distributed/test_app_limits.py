"""X's per-app rate limit is one counter in the store, shared by every account and worker posting through the
app: a unit taken by one account is gone for the others, a spent window blocks them all until its reset."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.platforms.x import XCredentials, XPlatform
from growthloop.adapters.store.store import SqlStore
from growthloop.distributed.applimits import APP_FAMILY, AppCounter, SharedAppLimits, share_app_limits
from growthloop.domain import PublishRequest
from growthloop.errors import RateLimited

from ..conftest import START
from ..contract.fake_x import FAKE_URL, FakeX

TOKEN = "user-token-5555aaaa"

ENDPOINT = "posts.create"


def _headers(remaining: int, reset_epoch: int) -> dict[str, str]:
    return {f"{APP_FAMILY}-remaining": str(remaining), f"{APP_FAMILY}-reset": str(reset_epoch)}


def test_the_apps_budget_is_shared_across_accounts(store: SqlStore) -> None:
    reset = START + timedelta(hours=3)
    alice = SharedAppLimits(counter=AppCounter(store, "x:https://api.x.com"))
    bob = SharedAppLimits(counter=AppCounter(store, "x:https://api.x.com"))
    other_app = SharedAppLimits(counter=AppCounter(store, "x:https://other.example"))
    alice.update(ENDPOINT, _headers(2, int(reset.timestamp())))
    assert bob.blocked_until(ENDPOINT, START) is None  # takes one unit
    assert alice.blocked_until(ENDPOINT, START) is None  # takes the last
    assert bob.blocked_until(ENDPOINT, START) == reset  # spent for every account of the app
    assert alice.blocked_until(ENDPOINT, START + timedelta(minutes=5)) == reset
    assert other_app.blocked_until(ENDPOINT, START) is None  # another app has its own budget
    assert bob.blocked_until(ENDPOINT, reset + timedelta(seconds=1)) is None  # the window reset


def test_a_late_answer_does_not_give_back_units_taken_since(store: SqlStore) -> None:
    reset = START + timedelta(hours=3)
    counter = AppCounter(store, "x:app")
    counter.record(ENDPOINT, 3, reset, START)
    assert counter.take(ENDPOINT, START) is None and counter.take(ENDPOINT, START) is None  # 1 left
    counter.record(ENDPOINT, 2, reset, START)  # an answer to a call made before the two takes
    assert counter.take(ENDPOINT, START) is None
    assert counter.take(ENDPOINT, START) == reset
    later = reset + timedelta(hours=24)
    counter.record(ENDPOINT, 5, later, START)  # a new window: the server's count
    assert counter.take(ENDPOINT, START) is None


def test_an_accounts_own_limits_stay_its_own(store: SqlStore) -> None:
    reset = START + timedelta(minutes=15)
    alice = SharedAppLimits(counter=AppCounter(store, "x:app"))
    bob = SharedAppLimits(counter=AppCounter(store, "x:app"))
    alice.update(
        ENDPOINT, {"x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": str(int(reset.timestamp()))}
    )
    assert alice.blocked_until(ENDPOINT, START) == reset
    assert bob.blocked_until(ENDPOINT, START) is None


class AppCappedX(FakeX):
    """The fake X, with an app-wide 24-hour cap on creating posts (the x-app-limit-24hour headers)."""

    def __init__(self, clock: VirtualClock, cap: int) -> None:
        super().__init__(clock, bearer=TOKEN)
        self.cap, self.created = cap, 0
        self.reset = START + timedelta(hours=24)

    def send(self, request: requests.PreparedRequest, *a: Any, **k: Any) -> requests.Response:
        response = super().send(request, *a, **k)
        if request.method == "POST" and urlsplit(str(request.url)).path == "/2/tweets":
            self.created += response.status_code == 201
            response.headers[f"{APP_FAMILY}-remaining"] = str(max(self.cap - self.created, 0))
            response.headers[f"{APP_FAMILY}-reset"] = str(int(self.reset.timestamp()))
        return response


def test_two_x_accounts_share_their_apps_daily_cap(store: SqlStore) -> None:
    clock = VirtualClock(START)
    fake = AppCappedX(clock, cap=2)
    accounts = []
    for _ in range(2):
        x = XPlatform(XCredentials.oauth2_user_token(TOKEN), clock, base_url=FAKE_URL)
        x.session.mount(FAKE_URL, fake)
        assert share_app_limits(x, store, FAKE_URL)
        accounts.append(x)
    alice, bob = accounts
    alice.publish(PublishRequest("a-1", ("Alice's first.",)), clock.now())  # the server: 1 left for the app
    bob.publish(PublishRequest("b-1", ("Bob's first.",)), clock.now())  # the last one, taken by Bob
    with pytest.raises(RateLimited):  # Alice never heard of Bob's post: the shared counter tells her
        alice.publish(PublishRequest("a-2", ("Alice's second.",)), clock.now())
    assert fake.created == 2 and len([r for r in fake.requests if r.method == "POST"]) == 2
    assert not share_app_limits(object(), store, FAKE_URL)  # any other platform keeps its own limits
