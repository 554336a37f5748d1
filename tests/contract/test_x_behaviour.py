"""The X adapter against a stateful fake at the HTTP edge: what Prism cannot show.

Rate limits waited out on the virtual clock, timeouts and reconciliation through the real post stage,
bad credentials through the runner and the doctor, X's refusals, malformed bodies, old and new field
names, and the metrics rules (batches, the 30-day life of non-public metrics).
"""

from __future__ import annotations

import pickle
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.platforms.x import AccessDenied, MissingCredentials, ReplyNotAllowed, XCredentials, XPlatform
from growthloop.adapters.store.tables import content_metadata, post_attempts
from growthloop.audit.doctor import FAIL, run_doctor
from growthloop.domain import FAILED, POSTED, POSTING, QUEUED, PublishRequest
from growthloop.errors import AuthFailed, ContentRejected, PlatformError, PlatformUnavailable, RateLimited
from growthloop.jobs.runner import JobRunner
from tests.conftest import START, Loop
from tests.contract.fake_x import FAKE_URL, WINDOW, FakeX, Fault

TOKEN = "user-token-5555aaaa"
OAUTH1 = {
    "api_key": "ck-1111aaaa",
    "api_secret": "cs-2222aaaa",
    "access_token": "at-3333aaaa",
    "access_token_secret": "ats-4444aaaa",
}
SECRETS = (TOKEN, *OAUTH1.values())


def oauth1_credentials(**override: str) -> XCredentials:
    v = OAUTH1 | override
    return XCredentials.oauth1(v["api_key"], v["api_secret"], v["access_token"], v["access_token_secret"])


def connect(fake: FakeX, clock: Any, credentials: XCredentials | None = None, **kwargs: Any) -> XPlatform:
    platform = XPlatform(credentials or XCredentials.oauth2_user_token(TOKEN), clock, base_url=FAKE_URL, **kwargs)
    platform.session.mount(FAKE_URL, fake)
    return platform


def no_secrets(text: str) -> bool:
    return not any(secret in text for secret in SECRETS)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def fake(clock: VirtualClock) -> FakeX:
    return FakeX(clock, bearer=TOKEN, oauth1=OAUTH1)


@pytest.fixture
def x(fake: FakeX, clock: VirtualClock) -> XPlatform:
    return connect(fake, clock)


# -- publishing ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", ["oauth2", "oauth1"])
def test_a_thread_is_a_reply_chain_and_the_receipt_has_every_part(fake: FakeX, clock: VirtualClock, auth: str) -> None:
    x = connect(fake, clock, oauth1_credentials() if auth == "oauth1" else None)  # OAuth 1.0a: signatures verified
    receipt = x.publish(PublishRequest("d-1", ("One.", "Two.", "Three.")), clock.now())
    mine = fake.own_posts()
    assert receipt.part_ids == tuple(p.id for p in mine) and receipt.platform_id == mine[0].id
    assert [p.in_reply_to for p in mine] == [None, mine[0].id, mine[1].id]
    assert {p.conversation_id for p in mine} == {mine[0].id}
    assert receipt.published_at == START


def _single_posts(loop: Loop) -> None:
    """No thread format, so that one post is one tweet whatever the policy draws."""
    formats = [f for f in loop.settings.buckets["format_strategy"] if f != "thread_deep_dive"]
    buckets = {**loop.settings.buckets, "format_strategy": formats}
    loop.wiring.settings = loop.settings.model_copy(update={"buckets": buckets})


def test_a_timeout_after_sending_is_reconciled_by_the_post_stage_never_posted_twice(
    loop: Loop, store: Any, settings: Any
) -> None:
    fake = FakeX(loop.clock, bearer=TOKEN)
    loop.wiring.platform = connect(fake, loop.clock)
    _single_posts(loop)
    loop.run("plan")
    fake.fail_next("POST /2/tweets", Fault("timeout_after"))
    first = loop.run("post")  # the real post stage, publish_due
    with store.connect() as conn:
        row = conn.execute(select(content_metadata).where(content_metadata.c.status == POSTING)).one()
    assert "outcome unknown" in (first.idle_reason or "")  # type: ignore[attr-defined]
    assert len(fake.own_posts()) == 1  # it did go out

    loop.clock.advance(31 * 60)
    loop.wiring.platform = connect(fake, loop.clock)  # a restart: a new process, nothing remembered
    loop.run("post")
    with store.connect() as conn:
        done = conn.execute(select(content_metadata).where(content_metadata.c.decision_id == row.decision_id)).one()
        attempts = conn.execute(
            select(post_attempts.c.outcome).where(post_attempts.c.decision_id == row.decision_id)
        ).all()
        posted = conn.execute(select(func.count()).where(content_metadata.c.status == POSTED)).scalar_one()
    texts = [p.text for p in fake.own_posts()]
    assert done.status == POSTED and done.status_reason == "reconciled after an unknown outcome"
    assert done.tweet_id == fake.own_posts()[0].id and done.posted_at == START
    assert [a.outcome for a in attempts] == ["reconciled"]
    assert texts.count(texts[0]) == 1 and len(texts) == posted == 2  # the reconciled one, then the next
    lookups = fake.calls("GET", "/2/users/")
    assert lookups and all(r.at > START for r in lookups)  # looked up before any retry, at the second run


def test_a_timeout_before_sending_is_not_found_and_retried_once(loop: Loop, store: Any) -> None:
    fake = FakeX(loop.clock, bearer=TOKEN)
    loop.wiring.platform = connect(fake, loop.clock)
    _single_posts(loop)
    loop.run("plan")
    fake.fail_next("POST /2/tweets", Fault("timeout_before"))
    loop.run("post")
    assert fake.own_posts() == []
    loop.clock.advance(31 * 60)
    loop.run("post")  # reconciled as not found: re-queued; then the rate limit lets one post through
    loop.clock.advance(31 * 60)
    loop.run("post")
    texts = [p.text for p in fake.own_posts()]
    assert len(texts) == len(set(texts)) == 2


def test_a_thread_cut_short_is_completed_at_reconciliation(x: XPlatform, fake: FakeX, clock: VirtualClock) -> None:
    request = PublishRequest("d-2", ("Part one.", "Part two, with a link: example.com/a & more.", "Part three."))
    fake.fail_next("POST /2/tweets", Fault("pass"), Fault("timeout_after"))
    with pytest.raises(PlatformUnavailable, match="partly published: parts 1-1 of 3"):
        x.publish(request, clock.now())
    assert len(fake.own_posts()) == 2  # part two went out, though its answer was lost
    clock.advance(900)
    receipt = x.find_published(request, clock.now())
    mine = fake.own_posts()
    assert receipt is not None and receipt.part_ids == tuple(p.id for p in mine)
    assert [p.text for p in mine] == list(request.parts)  # nothing twice; part three added
    assert [p.in_reply_to for p in mine] == [None, mine[0].id, mine[1].id]
    assert receipt.published_at == START


def test_find_published_sees_through_tco_links_and_html_escaping(
    x: XPlatform, fake: FakeX, clock: VirtualClock
) -> None:
    request = PublishRequest("d-3", ("Sleep <7 h & focus drops: see https://example.org/study?id=3 and nih.gov",))
    fake.fail_next("POST /2/tweets", Fault("reset_after"))
    with pytest.raises(PlatformUnavailable, match="connection failed.*outcome is unknown"):
        x.publish(request, clock.now())
    stored = fake.own_posts()[0]
    assert receipt_of(x, request) == stored.id
    assert receipt_of(x, PublishRequest("d-4", ("Sleep <7 h & focus drops",))) is None


def receipt_of(x: XPlatform, request: PublishRequest) -> str | None:
    receipt = x.find_published(request, START)
    return None if receipt is None else receipt.platform_id


def test_duplicate_content_is_rejected_and_the_post_stage_fails_the_row(loop: Loop, store: Any) -> None:
    fake = FakeX(loop.clock, bearer=TOKEN)
    x = connect(fake, loop.clock)
    loop.wiring.platform = x
    loop.run("plan")
    with store.connect() as conn:
        row = conn.execute(select(content_metadata).order_by(content_metadata.c.id).limit(1)).one()
    x.publish(PublishRequest("elsewhere", tuple(row.thread_parts or (row.content,))), loop.clock.now())
    loop.run("post")
    with store.connect() as conn:
        status, reason = conn.execute(
            select(content_metadata.c.status, content_metadata.c.status_reason).where(
                content_metadata.c.decision_id == row.decision_id
            )
        ).one()
    assert status == FAILED and "duplicate content" in reason
    with pytest.raises(ContentRejected, match="duplicate"):
        x.publish(PublishRequest("again", tuple(row.thread_parts or (row.content,))), loop.clock.now())


def test_a_reply_needs_the_account_to_be_summoned(x: XPlatform, fake: FakeX, clock: VirtualClock) -> None:
    stranger = fake.add_user("2000000000000000002", "stranger")
    unasked = fake.add_post(stranger, "Anyone know about sleep and focus?")
    asked = fake.add_post(stranger, "@growthloop_acct what do you think?", summoned=True)
    with pytest.raises(ReplyNotAllowed, match="mentioned or quoted"):
        x.reply(unasked.id, "Here is what the studies say.", clock.now())
    receipt = x.reply(asked.id, "Here is what the studies say.", clock.now())
    assert fake.posts[receipt.platform_id].in_reply_to == asked.id
    assert isinstance(ReplyNotAllowed("x"), ContentRejected)


# -- rate limits -----------------------------------------------------------------------------------------
def test_a_429_is_waited_out_until_exactly_the_reset_then_the_post_goes_out(fake: FakeX, clock: VirtualClock) -> None:
    x = connect(fake, clock, max_wait=timedelta(minutes=15))
    reset = START + timedelta(minutes=7, seconds=30)
    fake.fail_next(
        "POST /2/tweets",
        Fault(
            "status",
            429,
            {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(reset.timestamp()))},
            {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
        ),
    )
    receipt = x.publish(PublishRequest("d-5", ("Waited for it.",)), START)
    posts = fake.calls("POST", "/2/tweets")
    assert [r.at for r in posts] == [START, reset]  # nothing in between: no hammering
    assert clock.now() == reset and receipt.published_at == reset
    assert len(fake.own_posts()) == 1


def test_a_spent_window_is_waited_out_before_the_next_call(fake: FakeX, clock: VirtualClock) -> None:
    x = connect(fake, clock, max_wait=timedelta(minutes=15))
    fake.limit("GET /2/users/me", 1)
    assert x.follower_count(START) == 30
    clock.advance(60)
    assert x.follower_count(clock.now()) == 30  # remaining 0: it slept to the reset instead of asking
    assert [r.at for r in fake.calls("GET", "/2/users/me")] == [START, START + WINDOW]
    assert [r.status for r in fake.calls("GET", "/2/users/me")] == [200, 200]


def test_a_reset_too_far_away_raises_rate_limited_with_that_time(
    fake: FakeX, clock: VirtualClock, x: XPlatform
) -> None:
    reset = START + timedelta(minutes=14)
    fake.fail_next(
        "GET /2/users/me",
        Fault("status", 429, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(reset.timestamp()))}, {}),
    )
    with pytest.raises(RateLimited) as limited:
        x.follower_count(START)
    assert limited.value.until == reset and clock.now() == START
    assert len(fake.calls("GET", "/2/users/me")) == 1


def test_a_daily_post_cap_is_honoured_over_the_window(fake: FakeX, clock: VirtualClock, x: XPlatform) -> None:
    window, day = START + timedelta(minutes=15), START + timedelta(hours=20)
    fake.fail_next(
        "POST /2/tweets",
        Fault(
            "status",
            429,
            {
                "x-rate-limit-remaining": "250",
                "x-rate-limit-reset": str(int(window.timestamp())),
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": str(int(day.timestamp())),
            },
            {},
        ),
    )
    with pytest.raises(RateLimited) as limited:
        x.publish(PublishRequest("d-6", ("Capped.",)), START)
    assert limited.value.until == day
    with pytest.raises(RateLimited):
        x.publish(PublishRequest("d-6", ("Capped.",)), START)  # known to be spent: not even asked
    assert len(fake.calls("POST", "/2/tweets")) == 1


def test_the_post_stage_records_a_rate_limit_and_wakes_at_the_reset(loop: Loop, store: Any) -> None:
    fake = FakeX(loop.clock, bearer=TOKEN)
    loop.wiring.platform = connect(fake, loop.clock)
    loop.run("plan")
    reset = START + timedelta(minutes=12)
    fake.fail_next("POST /2/tweets", Fault("status", 429, {"x-rate-limit-reset": str(int(reset.timestamp()))}, {}))
    result = loop.run("post")
    assert result.wake_at == reset  # type: ignore[attr-defined]
    with store.connect() as conn:
        assert conn.execute(select(func.count()).where(content_metadata.c.status == QUEUED)).scalar_one() == 4


# -- credentials -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("credentials", "named"),
    [
        (XCredentials.oauth2_user_token("wrong-token-9999"), "GROWTHLOOP_X_OAUTH2_USER_TOKEN"),
        (oauth1_credentials(access_token_secret="wrong-secret-9999"), "GROWTHLOOP_X_ACCESS_TOKEN"),
        (oauth1_credentials(api_secret="wrong-secret-9999"), "GROWTHLOOP_X_API_SECRET"),
    ],
)
def test_bad_credentials_fail_closed_naming_the_variable_never_the_value(
    fake: FakeX, clock: VirtualClock, credentials: XCredentials, named: str
) -> None:
    x = connect(fake, clock, credentials)
    for call in (
        lambda: x.publish(PublishRequest("d", ("Hello.",)), START),
        lambda: x.check_credentials(START),
        lambda: x.follower_count(START),
    ):
        with pytest.raises(AuthFailed) as refused:
            call()
        assert named in str(refused.value) and "401" in str(refused.value)
        assert no_secrets(str(refused.value)) and "wrong-" not in str(refused.value)
    assert fake.own_posts() == []


def test_a_read_only_token_is_named_with_the_fix(fake: FakeX, clock: VirtualClock) -> None:
    fake.read_only = True
    x = connect(fake, clock, oauth1_credentials())
    assert x.check_credentials(START).username == "growthloop_acct"  # reading works
    with pytest.raises(AuthFailed, match="GROWTHLOOP_X_ACCESS_TOKEN may be read-only.*Read and Write") as refused:
        x.publish(PublishRequest("d", ("Hello.",)), START)
    assert no_secrets(str(refused.value))


def test_bad_credentials_stop_posting_and_fail_doctor_by_name(loop: Loop, store: Any, settings: Any) -> None:
    fake = FakeX(loop.clock, oauth1=OAUTH1)
    loop.wiring.platform = connect(fake, loop.clock, oauth1_credentials(access_token_secret="revoked-secret-7777"))
    loop.run("plan")
    runner = JobRunner(loop.wiring)
    outcome = runner.run("post", START)
    assert outcome.status == "failed" and "GROWTHLOOP_X_ACCESS_TOKEN" in (outcome.error or "")
    with store.connect() as conn:
        statuses = set(conn.execute(select(content_metadata.c.status)).scalars())
    assert statuses == {QUEUED} and fake.own_posts() == []  # nothing posted, nothing lost
    check = next(c for c in run_doctor(store, settings, settings.account, START) if c.name == "job.post")
    assert check.state == FAIL and "GROWTHLOOP_X_ACCESS_TOKEN" in (check.cause or "")
    assert no_secrets(str(check.as_dict())) and "revoked-secret-7777" not in str(check.as_dict())


def test_credentials_come_from_the_environment_and_never_show_their_values() -> None:
    env = {
        "GROWTHLOOP_X_API_KEY": "k-aaaa",
        "GROWTHLOOP_X_API_SECRET": "s-bbbb",
        "GROWTHLOOP_X_ACCESS_TOKEN": "t-cccc",
        "GROWTHLOOP_X_ACCESS_TOKEN_SECRET": "ts-dddd",
    }
    creds = XCredentials.from_env(env)
    assert creds.mode == "oauth1"
    shown = repr(creds) + str(creds) + creds.describe()
    assert not any(v in shown for v in env.values()) and "GROWTHLOOP_X_ACCESS_TOKEN" in shown
    assert creds.scrub("echo t-cccc and ts-dddd") == "echo [redacted] and [redacted]"
    with pytest.raises(TypeError):
        pickle.dumps(creds)

    partial = {k: v for k, v in env.items() if k != "GROWTHLOOP_X_ACCESS_TOKEN_SECRET"}
    with pytest.raises(MissingCredentials) as missing:
        XCredentials.from_env(partial)
    assert missing.value.field == "GROWTHLOOP_X_ACCESS_TOKEN_SECRET"
    assert not any(v in str(missing.value) for v in env.values())

    with pytest.raises(MissingCredentials, match="GROWTHLOOP_X_OAUTH2_USER_TOKEN"):
        XCredentials.from_env({})
    assert XCredentials.from_env({"GROWTHLOOP_X_BEARER_TOKEN": "b-eeee"}).variables == ("GROWTHLOOP_X_BEARER_TOKEN",)
    both = XCredentials.from_env({"GROWTHLOOP_X_BEARER_TOKEN": "b", "GROWTHLOOP_X_OAUTH2_USER_TOKEN": "u"})
    assert both.variables == ("GROWTHLOOP_X_OAUTH2_USER_TOKEN",)


# -- malformed answers and outages -----------------------------------------------------------------------
def test_a_body_that_is_not_json_is_platform_unavailable(fake: FakeX, clock: VirtualClock, x: XPlatform) -> None:
    fake.fail_next("GET /2/users/me", Fault("malformed"))
    with pytest.raises(PlatformUnavailable, match="not a JSON object"):
        x.follower_count(START)
    fake.fail_next("GET /2/users/me", Fault("malformed", body=b"[1, 2]"))
    with pytest.raises(PlatformUnavailable, match="not a JSON object"):
        x.follower_count(START)
    request = PublishRequest("d-7", ("Answered with garbage.",))
    fake.fail_next("POST /2/tweets", Fault("malformed"))
    with pytest.raises(PlatformUnavailable, match="outcome is unknown"):
        x.publish(request, START)
    assert receipt_of(x, request) == fake.own_posts()[0].id  # it went out: reconciliation finds it


def test_impossible_values_are_refused_not_stored(fake: FakeX, clock: VirtualClock, x: XPlatform) -> None:
    fake.fail_next(
        "GET /2/users/me",
        Fault(
            "status",
            200,
            {},
            {
                "data": {
                    "id": "1",
                    "public_metrics": {"followers_count": -5, "following_count": 1, "post_count": 1, "listed_count": 0},
                }
            },
        ),
    )
    with pytest.raises(PlatformError, match="followers_count"):
        x.follower_count(START)
    fake.fail_next("POST /2/tweets", Fault("status", 201, {}, {"data": {"id": "not-an-id", "text": "t"}}))
    with pytest.raises(PlatformUnavailable, match="without a valid post id"):
        x.publish(PublishRequest("d-8", ("Hello.",)), START)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_unavailable(fake: FakeX, x: XPlatform, status: int) -> None:
    fake.fail_next("POST /2/tweets", Fault("status", status, {}, {"title": "Service Unavailable"}))
    with pytest.raises(PlatformUnavailable, match=f"{status}.*outcome is unknown"):
        x.publish(PublishRequest("d-9", ("Hello.",)), START)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    sock.close()


def test_a_silent_server_times_out_instead_of_hanging(silent_server: str, clock: VirtualClock) -> None:
    x = XPlatform(XCredentials.oauth2_user_token(TOKEN), clock, base_url=silent_server, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(PlatformUnavailable, match="timed out.*outcome is unknown"):
        x.publish(PublishRequest("d-10", ("Hello.",)), START)
    assert time.monotonic() - t0 < 5


# -- metrics, followers, field names ---------------------------------------------------------------------
@pytest.mark.parametrize("old_names", [False, True])
def test_old_and_new_field_names_are_both_read(clock: VirtualClock, old_names: bool) -> None:
    fake = FakeX(clock, bearer=TOKEN, old_names=old_names, followers=31)
    x = connect(fake, clock)
    receipt = x.publish(PublishRequest("d-11", ("Counting.",)), START)
    fake.posts[receipt.platform_id].public |= {
        "impression_count": 120,
        "like_count": 3,
        "repost_count": 2,
        "reply_count": 1,
        "quote_count": 1,
        "bookmark_count": 4,
    }
    [m] = x.metrics([receipt.platform_id], START + timedelta(hours=1))
    assert (m.impressions, m.likes, m.reposts, m.replies, m.quotes, m.bookmarks) == (120, 3, 2, 1, 1, 4)
    account = x.check_credentials(START)
    assert (account.followers, account.posts) == (31, 1)
    assert x.follower_count(START) == 31


def test_metrics_batches_and_non_public_fields_only_within_30_days(fake: FakeX, clock: VirtualClock) -> None:
    x = connect(fake, clock)
    old = x.publish(PublishRequest("old", ("Old post.",)), START).platform_id
    clock.advance(31 * 86400)
    young = [
        x.publish(PublishRequest(f"y{i}", (f"Young post {i} at example.com/{i}",)), clock.now()).platform_id
        for i in range(3)
    ]
    fake.posts[young[0]].private |= {"impression_count": 50, "user_profile_clicks": 4, "url_link_clicks": 2}
    fake.posts[young[0]].public["impression_count"] = 50
    plain = x.publish(PublishRequest("plain", ("No link here.",)), clock.now()).platform_id
    deleted = str(int(young[0]) + 999)
    ids = [old, *young, plain, deleted] + [str(int(young[0]) + 10_000 + i) for i in range(200)]
    metrics = {m.platform_id: m for m in x.metrics(ids, clock.now())}

    assert set(metrics) == {old, *young, plain}  # deleted or unknown posts are left out
    assert (metrics[young[0]].impressions, metrics[young[0]].profile_clicks, metrics[young[0]].link_clicks) == (
        50,
        4,
        2,
    )
    assert metrics[plain].link_clicks is None and metrics[plain].profile_clicks == 0  # no link: not a made-up 0
    assert metrics[old].profile_clicks is None and metrics[old].link_clicks is None  # past 30 days: not asked
    lookups = fake.calls("GET", "/2/tweets")
    assert all(len(r.params["ids"][0].split(",")) <= 100 for r in lookups) and len(lookups) == 4
    for r in lookups:
        asked_private = "non_public_metrics" in r.params["post.fields"][0]
        assert asked_private == (old not in r.params["ids"][0].split(","))


def test_refused_non_public_metrics_fall_back_to_public_ones(fake: FakeX, clock: VirtualClock, x: XPlatform) -> None:
    pid = x.publish(PublishRequest("d-12", ("Hello.",)), START).platform_id
    fake.private_metrics = False
    [m] = x.metrics([pid], START)
    assert m.impressions == 0 and m.profile_clicks is None
    assert x.capabilities().profile_clicks is False
    x.metrics([pid], START)
    assert "non_public_metrics" not in fake.calls("GET", "/2/tweets")[-1].params["post.fields"][0]


# -- mentions and search ---------------------------------------------------------------------------------
def test_mentions_since_a_time_with_their_authors(fake: FakeX, clock: VirtualClock, x: XPlatform) -> None:
    fan = fake.add_user("3000000000000000003", "fan", followers=1234)
    fake.add_post(fan, "@growthloop_acct early one", at=START)
    clock.advance(3600)
    late = fake.add_post(fan, "@growthloop_acct does magnesium help <sleep> & focus?", at=clock.now())
    x.publish(PublishRequest("d-13", ("I mention @growthloop_acct myself.",)), clock.now())
    found = x.mentions(START + timedelta(minutes=30), clock.now())
    assert [m.platform_id for m in found] == [late.id]
    m = found[0]
    assert (m.kind, m.author, m.author_followers, m.created_at, m.summoned) == (
        "mention",
        "fan",
        1234,
        clock.now(),
        True,
    )
    assert m.text == "@growthloop_acct does magnesium help <sleep> & focus?"  # X's HTML escaping undone


def test_search_finds_others_posts_and_turns_itself_off_when_not_in_the_plan(
    fake: FakeX, clock: VirtualClock, x: XPlatform
) -> None:
    other = fake.add_user("4000000000000000004", "someone", followers=50)
    hit = fake.add_post(other, "New sleep research on focus")
    fake.add_post(other, "Nothing relevant")
    found = x.search_recent("sleep focus", START)
    assert [(m.platform_id, m.kind, m.summoned) for m in found] == [(hit.id, "search", False)]
    assert "-is:retweet" in fake.calls("GET", "/2/tweets/search/recent")[-1].params["query"][0]
    fake.search_allowed = False
    assert x.search_recent("sleep", START) == []
    assert x.capabilities().search is False
    assert issubclass(AccessDenied, AuthFailed)
