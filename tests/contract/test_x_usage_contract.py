"""X's usage endpoint (GET /2/usage/tweets) and the metered X adapter against Prism serving the official spec:
the requests are the spec's (an app-only Bearer Token, `days` and `usage.fields` within their enums), and
whatever the spec allows in an answer is read without a crash; every call the stages make is priced."""

from __future__ import annotations

import requests
from sqlalchemy import select

from growthloop.adapters.platforms.metered import MeteredPlatform
from growthloop.adapters.platforms.x import XCredentials, XPlatform
from growthloop.adapters.platforms.x.usage import read_usage
from growthloop.adapters.store.tables import platform_usage
from growthloop.spend.prices import price_table
from growthloop.spend.settings import SpendSettings
from growthloop.spend.x_usage import USAGE_FIELDS, XUsage
from tests.conftest import Loop
from tests.contract.conftest import PrismServer, Seen
from tests.contract.test_x_contract import USER_ID, _assert_no_violations, _endpoint, _query


def test_the_usage_endpoint_is_asked_as_the_spec_says(prism: PrismServer) -> None:
    mark = prism.log_size()
    attached: list[list[Seen]] = []

    def attach(session: requests.Session) -> None:
        attached.append(prism.attach(session))  # filled as the answers come

    usage = read_usage(prism.url, "app-only-bearer-FFFF", days=30, session_setup=attach)
    answered = attached[0]
    assert isinstance(usage, XUsage) and all(isinstance(n, int) for n in usage.days.values())
    assert [_endpoint(s) for s in answered] == ["GET /2/usage/tweets"]
    q = _query(answered[0])
    assert q["days"] == ["30"] and q["usage.fields"] == [",".join(USAGE_FIELDS)]
    assert answered[0].status == 200
    _assert_no_violations(prism, answered, mark)


def test_every_call_of_the_stages_is_priced_through_the_spec(prism: PrismServer, loop: Loop) -> None:
    mark = prism.log_size()
    x = XPlatform(
        XCredentials.oauth2_user_token("oauth2-user-token-EEEE"),
        loop.clock,
        base_url=prism.url,
        user_id=USER_ID,
        account=loop.settings.account,
    )
    seen = prism.attach(x.session)
    loop.wiring.platform = MeteredPlatform(x, loop.store, loop.settings.account, price_table("x", {}), SpendSettings())
    loop.run("plan")
    loop.run("post")
    loop.run("metrics")
    loop.run("followers")
    loop.run("replies")
    _assert_no_violations(prism, seen, mark)
    with loop.store.connect() as conn:
        rows = conn.execute(select(platform_usage)).all()
    priced = {r.endpoint for r in rows}
    asked = {_endpoint(s) for s in seen if s.status is not None and s.status < 400}
    assert asked <= priced | {"GET /2/tweets"}, asked - priced  # a lookup of nothing is not asked at all
    assert "POST /2/tweets" in priced and "GET /2/users/me" in priced
    assert all(r.cost_micros == r.billed * r.unit_micros for r in rows)


def test_the_owned_timeline_for_metrics_is_asked_as_the_spec_says(prism: PrismServer, loop: Loop) -> None:
    from datetime import timedelta

    from tests.contract.test_x_contract import _young_ids

    mark = prism.log_size()
    x = XPlatform(
        XCredentials.oauth2_user_token("oauth2-user-token-EEEE"),
        loop.clock,
        base_url=prism.url,
        user_id=USER_ID,
        owned_window=timedelta(hours=48),
    )
    seen = prism.attach(x.session)
    x.metrics(_young_ids(loop, 3), loop.clock.now())
    timeline = [s for s in seen if _endpoint(s) == "GET /2/users/:id/tweets"]
    assert timeline and {"since_id", "until_id"} <= set(_query(timeline[0]))
    _assert_no_violations(prism, seen, mark)
