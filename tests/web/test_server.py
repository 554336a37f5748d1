"""The dashboard's routes through Starlette's test client, on one simulated database (SQLite), and its pages
on PostgreSQL: every page, bad input, the action token, CSRF and origin checks, no secret rendered."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from growthloop.adapters.clocks import VirtualClock
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, job_runs, job_schedule, reply_opportunities
from growthloop.bootstrap import ensure_account
from growthloop.cli.app import app as cli_app
from growthloop.config import Settings, load_settings
from growthloop.domain import DIMENSIONS
from growthloop.web.app import create_app
from growthloop.web.bench import run_bench
from growthloop.web.copies import copy_account, copy_name
from growthloop.web.guard import AUTH_COOKIE, SESSION_COOKIE, scrub
from tests.conftest import START
from tests.web.conftest import sim_end

TOKEN = "s3cret-web-token"
BASE = "http://testserver"


@pytest.fixture(scope="module")
def store(sim_db: Path) -> Any:
    s = SqlStore(f"sqlite:///{sim_db}")
    yield s
    s.dispose()


@pytest.fixture
def client(sim_settings: Settings, store: SqlStore) -> TestClient:
    return TestClient(create_app(sim_settings, store, TOKEN), base_url=BASE)


@pytest.fixture
def readonly(sim_settings: Settings, store: SqlStore) -> TestClient:
    return TestClient(create_app(sim_settings, store, None), base_url=BASE)


def figures(html: str) -> dict[str, Any]:
    """Every figure embedded in a page, parsed as strict JSON (NaN would break the browser's JSON.parse)."""

    def strict(value: str) -> Any:
        raise ValueError(f"not JSON: {value}")

    found = re.findall(r'<script type="application/json" id="figure-([\w-]+)">(.*?)</script>', html, re.S)
    return {name: json.loads(body, parse_constant=strict) for name, body in found}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def drafted_ids(store: SqlStore) -> list[int]:
    ro = reply_opportunities
    with store.connect() as conn:
        return list(conn.execute(select(ro.c.id).where(ro.c.status == "drafted").order_by(ro.c.id)).scalars())


def status_of(store: SqlStore, opportunity: int) -> str:
    with store.connect() as conn:
        return conn.execute(
            select(reply_opportunities.c.status).where(reply_opportunities.c.id == opportunity)
        ).scalar_one()


# -- pages ------------------------------------------------------------------------------------------------
def test_overview_shows_followers_posts_stages_and_failing_checks_first(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert f"judged at its virtual time {sim_end()}" in r.text
    fig = figures(r.text)["followers"]
    marks, line = fig["data"]
    assert line["name"] == "followers" and marks["name"].startswith("posts")
    assert len(line["x"]) > 200 and line["y"][-1] > 0  # a follower snapshot every 15 minutes for three days
    assert len(marks["x"]) > 100 and any("±" in t for t in marks["text"])  # posts with their attributed follows
    states = re.findall(r'<span class="pill (\w+)">', r.text)
    assert states and states == sorted(states, key=["fail", "warn", "pass", "skip"].index)
    assert "metric snapshots" in r.text and "last 7d" in r.text


def test_posts_filter_sort_and_page(client: TestClient, store: SqlStore) -> None:
    r = client.get("/posts", params={"status": "posted", "kind": "post", "sort": "attributed", "order": "desc"})
    assert r.status_code == 200
    rows = re.findall(r"<tr>\s*<td><a href=\"/posts/(\d+)\?account=default\">", r.text)
    assert len(rows) == 50
    follows = [float(x) for x in re.findall(r'<td class="n t">(-?[\d.]+) ± ', r.text)]
    assert follows == sorted(follows, reverse=True) and len(follows) == 50
    with store.connect() as conn:
        posted = conn.execute(
            select(func.count()).where(content_metadata.c.status == "posted", content_metadata.c.kind == "post")
        ).scalar_one()
    assert f"{posted} matching" in r.text
    topic = load_settings(None).buckets["topic"][0]
    r = client.get("/posts", params={"topic": topic, "order": "asc", "page": "1"})
    cells = re.findall(r"<td>(\w+)</td><td>(post|reply)</td>", r.text)
    assert cells and "page 1 of" in r.text
    with store.connect() as conn:
        n = conn.execute(select(func.count()).where(content_metadata.c.topic == topic)).scalar_one()
    assert f"{n} matching" in r.text
    last = client.get("/posts", params={"page": str(-(-posted // 50)), "status": "posted", "kind": "post"})
    assert last.status_code == 200 and "next</a>" not in last.text


def test_a_posts_own_page_has_its_metric_curves_and_text(client: TestClient, store: SqlStore) -> None:
    cm = content_metadata
    with store.connect() as conn:
        row = conn.execute(
            select(cm.c.id, cm.c.content).where(cm.c.status == "posted", cm.c.kind == "post").order_by(cm.c.id).limit(1)
        ).one()
    r = client.get(f"/posts/{row.id}")
    assert r.status_code == 200
    fig = figures(r.text)["metrics"]
    impressions = next(t for t in fig["data"] if t["name"] == "impressions")
    assert len(impressions["y"]) >= 5 and impressions["y"] == sorted(impressions["y"])  # counters only grow
    assert row.content.split()[0] in r.text and "attributed follows" in r.text


def test_learning_has_a_forest_per_dimension_policy_and_estimates_with_truth(client: TestClient) -> None:
    r = client.get("/learning")
    assert r.status_code == 200
    figs = figures(r.text)
    for dim in DIMENSIONS:
        fig = figs[f"forest-{dim}"]
        learned, truth, policy = fig["data"]
        assert all(lo >= 0 and hi >= 0 for lo, hi in zip(learned["error_x"]["arrayminus"], learned["error_x"]["array"]))
        assert truth["name"] == "true (simulator)" and all(x is not None for x in truth["x"])
        assert abs(sum(policy["x"]) - 1) < 1e-6  # the policy's probabilities of the dimension's values
    evaluation = figs["evaluation"]["data"]
    labels = evaluation[0]["y"]
    assert {"uniform", "seed", "bayes"} <= {label.split(" · ")[0] for label in labels}
    assert evaluation[1]["name"] == "uniform's true value (simulator)" and evaluation[1]["x"]
    assert "doubly_robust_clipped" in r.text


def test_jobs_shows_runs_durations_and_next_due(client: TestClient, store: SqlStore) -> None:
    r = client.get("/jobs")
    assert r.status_code == 200
    fig = figures(r.text)["durations"]
    assert {t["name"] for t in fig["data"]} >= {"followers", "post", "learn"}
    assert all(y is None or y >= 0 for t in fig["data"] for y in t["y"])
    assert "succeeded" in r.text and "next due" in r.text


def test_replies_lists_drafts_with_buttons_and_the_others(readonly: TestClient, store: SqlStore) -> None:
    r = readonly.get("/replies")
    assert r.status_code == 200
    ids = drafted_ids(store)
    assert ids and all(f'action="/replies/{i}/approve"' in r.text for i in ids)
    assert "actions are disabled" in r.text and "disabled title=" in r.text
    queued = readonly.get("/replies", params={"status": "queued"})
    assert 'id="opportunity-' in queued.text and "<td>queued</td>" in queued.text


def test_security_headers_and_the_plotly_script_served_locally(client: TestClient) -> None:
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src" not in csp  # scripts only from this server
    assert r.headers["x-frame-options"] == "DENY"
    assert 'src="/static/plotly.min.js"' in r.text and "http" not in re.findall(r'<script src="([^"]+)"', r.text)[0]
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
    assert client.get("/static/app.js").status_code == 200


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/", {"account": "nobody"}, 404, "no account &#39;nobody&#39; in this database (accounts: default)"),
        ("/posts/999999", {}, 404, "no post 999999 for account"),
        ("/posts/abc", {}, 404, "no such page"),
        ("/posts/99999999999999999999", {}, 404, "no post 99999999999999999999"),
        ("/posts", {"page": "x"}, 400, "query parameter &#39;page&#39;: &#39;x&#39; is not a whole number"),
        ("/posts", {"page": "0"}, 400, "is not a whole number from 1"),
        ("/posts", {"sort": "content; drop table posts"}, 400, "query parameter &#39;sort&#39;"),
        ("/posts", {"order": "sideways"}, 400, "query parameter &#39;order&#39;"),
        ("/posts", {"status": "lost"}, 400, "query parameter &#39;status&#39;"),
        ("/posts", {"topic": "astrology"}, 400, "query parameter &#39;topic&#39;: &#39;astrology&#39;"),
        ("/replies", {"status": "maybe"}, 400, "query parameter &#39;status&#39;"),
        ("/replies", {"decided": "1e9"}, 400, "query parameter &#39;decided&#39;"),
        ("/learning", {"account": "x" * 500}, 404, "no account"),
        ("/nowhere", {}, 404, "no such page"),
    ],
)
def test_bad_input_is_a_4xx_page_naming_the_problem(
    client: TestClient, path: str, params: dict[str, str], status: int, message: str
) -> None:
    r = client.get(path, params=params)
    assert r.status_code == status
    assert message in r.text
    assert "Traceback" not in r.text and "<html" in r.text


def test_get_on_an_action_is_refused(client: TestClient) -> None:
    assert client.get("/replies/1/approve").status_code == 405


# -- actions: token, CSRF, origin -----------------------------------------------------------------------
def test_without_a_token_actions_are_disabled(readonly: TestClient, store: SqlStore) -> None:
    page = readonly.get("/replies")
    target = drafted_ids(store)[0]
    r = readonly.post(
        f"/replies/{target}/approve", data={"csrf": csrf_of(page.text), "account": "default"}, headers={"origin": BASE}
    )
    assert r.status_code == 403 and "actions are disabled" in r.text and "GROWTHLOOP_WEB_TOKEN" in r.text
    assert status_of(store, target) == "drafted"


def sign_in(client: TestClient, token: str = TOKEN) -> Any:
    page = client.get("/replies")
    return client.post(
        "/signin",
        data={"csrf": csrf_of(page.text), "token": token, "back": "/replies"},
        headers={"origin": BASE},
        follow_redirects=False,
    )


def test_sign_in_needs_the_right_token(client: TestClient, store: SqlStore) -> None:
    wrong = sign_in(client, "guess")
    assert wrong.status_code == 403 and "wrong token" in wrong.text and TOKEN not in wrong.text
    assert AUTH_COOKIE not in client.cookies
    page = client.get("/replies")
    target = drafted_ids(store)[0]
    r = client.post(
        f"/replies/{target}/approve", data={"csrf": csrf_of(page.text), "account": "default"}, headers={"origin": BASE}
    )
    assert r.status_code == 403 and "sign in with the token" in r.text
    assert status_of(store, target) == "drafted"


def test_approve_and_reject_move_the_draft(client: TestClient, store: SqlStore) -> None:
    ok = sign_in(client)
    assert ok.status_code == 303 and ok.headers["location"] == "/replies"
    page = client.get("/replies")
    assert "sign out" in page.text and TOKEN not in page.text
    first, second = drafted_ids(store)[:2]
    csrf = csrf_of(page.text)
    r = client.post(f"/replies/{first}/approve", data={"csrf": csrf, "account": "default"}, headers={"origin": BASE})
    assert r.status_code == 200 and f"reply opportunity {first}: queued" in r.text
    assert status_of(store, first) == "queued"
    with store.connect() as conn:
        decision = conn.execute(
            select(reply_opportunities.c.decision_id).where(reply_opportunities.c.id == first)
        ).scalar_one()
        assert (
            conn.execute(
                select(content_metadata.c.status).where(content_metadata.c.decision_id == decision)
            ).scalar_one()
            == "queued"
        )
    r = client.post(f"/replies/{second}/reject", data={"csrf": csrf, "account": "default"}, headers={"origin": BASE})
    assert f"reply opportunity {second}: rejected" in r.text and status_of(store, second) == "rejected"
    again = client.post(f"/replies/{first}/reject", data={"csrf": csrf, "account": "default"}, headers={"origin": BASE})
    assert again.status_code == 409 and "not a draft awaiting approval" in again.text
    assert status_of(store, first) == "queued"
    missing = client.post(
        "/replies/999999/approve", data={"csrf": csrf, "account": "default"}, headers={"origin": BASE}
    )
    assert missing.status_code == 404
    huge = client.post("/replies/99999999999/approve", data={"csrf": csrf}, headers={"origin": BASE})
    assert huge.status_code == 404 and "no reply opportunity 99999999999" in huge.text
    bad_verb = client.post(
        f"/replies/{first}/delete", data={"csrf": csrf, "account": "default"}, headers={"origin": BASE}
    )
    assert bad_verb.status_code == 404


@pytest.mark.parametrize(
    ("headers", "csrf", "message"),
    [
        ({"origin": "http://evil.example"}, "good", "cross-site request refused (Origin"),
        ({"referer": "http://evil.example/replies"}, "good", "cross-site request refused (its Referer"),
        ({}, "good", "neither an Origin nor a Referer"),
        ({"origin": BASE}, "forged", "CSRF token does not match"),
        ({"origin": BASE}, "missing", "CSRF token does not match"),
    ],
)
def test_cross_site_and_forged_posts_are_refused(
    client: TestClient, store: SqlStore, headers: dict[str, str], csrf: str, message: str
) -> None:
    assert sign_in(client).status_code == 303
    token = csrf_of(client.get("/replies").text)
    form = {"account": "default"} | (
        {"csrf": token} if csrf == "good" else {"csrf": "0" * 64} if csrf == "forged" else {}
    )
    target = drafted_ids(store)[0]
    r = client.post(f"/replies/{target}/approve", data=form, headers=headers)
    assert r.status_code == 403 and message in r.text
    assert status_of(store, target) == "drafted"


def paused_by(store: SqlStore, job: str) -> str | None:
    with store.connect() as conn:
        return conn.execute(select(job_schedule.c.paused_by).where(job_schedule.c.job == job)).scalar_one()


def test_pausing_a_job_needs_the_token_and_the_csrf_token(
    client: TestClient, readonly: TestClient, store: SqlStore
) -> None:
    no_token = readonly.post(
        "/jobs/learn/pause", data={"csrf": csrf_of(readonly.get("/jobs").text)}, headers={"origin": BASE}
    )
    assert no_token.status_code == 403 and "actions are disabled" in no_token.text
    signed_out = client.post(
        "/jobs/learn/pause", data={"csrf": csrf_of(client.get("/jobs").text)}, headers={"origin": BASE}
    )
    assert signed_out.status_code == 403 and "sign in with the token" in signed_out.text
    assert sign_in(client).status_code == 303
    csrf = csrf_of(client.get("/jobs").text)
    no_csrf = client.post("/jobs/learn/pause", data={"account": "default"}, headers={"origin": BASE})
    assert no_csrf.status_code == 403 and "CSRF token does not match" in no_csrf.text
    cross_site = client.post("/jobs/learn/pause", data={"csrf": csrf}, headers={"origin": "http://evil.example"})
    assert cross_site.status_code == 403 and "cross-site request refused" in cross_site.text
    assert paused_by(store, "learn") is None
    for path in ("/jobs/lern/pause", "/jobs/learn/stop"):
        assert client.post(path, data={"csrf": csrf}, headers={"origin": BASE}).status_code == 404

    paused = client.post("/jobs/learn/pause", data={"csrf": csrf, "account": "default"}, headers={"origin": BASE})
    assert paused.status_code == 200 and paused.url.path == "/jobs"
    assert paused_by(store, "learn") == "the dashboard"
    assert "paused</span> by the dashboard" in paused.text and 'action="/jobs/learn/resume"' in paused.text
    resumed = client.post("/jobs/learn/resume", data={"csrf": csrf, "account": "default"}, headers={"origin": BASE})
    assert resumed.status_code == 200 and paused_by(store, "learn") is None
    assert 'action="/jobs/learn/pause"' in resumed.text and "paused</span>" not in resumed.text


def test_a_csrf_token_is_bound_to_its_session(client: TestClient, sim_settings: Settings, store: SqlStore) -> None:
    assert sign_in(client).status_code == 303
    other = TestClient(create_app(sim_settings, store, TOKEN), base_url=BASE)
    stolen = csrf_of(other.get("/replies").text)  # another browser's token, from another server process
    r = client.post(f"/replies/{drafted_ids(store)[0]}/approve", data={"csrf": stolen}, headers={"origin": BASE})
    assert r.status_code == 403 and "CSRF" in r.text


def test_session_cookies_are_httponly_and_samesite_strict(client: TestClient) -> None:
    cookie = client.get("/").headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    auth = sign_in(client).headers["set-cookie"]
    assert auth.startswith(f"{AUTH_COOKIE}=") and "HttpOnly" in auth and TOKEN not in auth


def test_an_open_redirect_after_sign_in_goes_home(client: TestClient) -> None:
    page = client.get("/")
    r = client.post(
        "/signin",
        data={"csrf": csrf_of(page.text), "token": TOKEN, "back": "//evil.example/x"},
        headers={"origin": BASE},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_a_foreign_host_header_is_refused_on_loopback(sim_settings: Settings, store: SqlStore) -> None:
    app = create_app(sim_settings, store, TOKEN, allowed_hosts=["127.0.0.1", "localhost"])
    assert TestClient(app, base_url="http://127.0.0.1").get("/jobs").status_code == 200
    assert TestClient(app, base_url="http://rebound.example").get("/jobs").status_code == 400


# -- no secret rendered ---------------------------------------------------------------------------------
def test_secrets_in_error_texts_are_masked(
    client: TestClient, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "xoxb-very-secret-value"
    monkeypatch.setenv("GROWTHLOOP_X_ACCESS_TOKEN_SECRET", secret)
    with store.begin() as conn:
        last = conn.execute(select(job_runs).order_by(job_runs.c.id.desc()).limit(1)).one()
        run = conn.execute(
            job_runs.insert().values(
                account="default",
                job="metrics",
                scheduled_for=last.started_at + timedelta(seconds=1),  # a key no run has
                started_at=last.started_at,
                finished_at=last.started_at,
                status="failed",
                error=f"HTTP 401 for key {secret}",
            )
        ).inserted_primary_key[0]
    try:
        r = client.get("/jobs")
        assert "HTTP 401 for key [secret]" in r.text and secret not in r.text
    finally:
        with store.begin() as conn:
            conn.execute(job_runs.delete().where(job_runs.c.id == run))
    assert scrub("short ab", {"API_KEY": "ab"}) == "short ab"  # too short to mask safely
    assert (
        scrub("url https://h/hook123456", {"GROWTHLOOP_ALERTS__WEBHOOK_URL": "https://h/hook123456"}) == "url [secret]"
    )


# -- many accounts, PostgreSQL, the commands --------------------------------------------------------------
def test_copies_relabel_every_row_and_the_switcher_lists_them(
    store: SqlStore, sim_settings: Settings, tmp_path: Path
) -> None:
    many = SqlStore(f"sqlite:///{tmp_path / 'many.db'}")
    names = copy_account(store, many, "default", 3)
    assert names == [copy_name(i) for i in range(3)]
    with store.connect() as a, many.connect() as b:
        source = a.execute(select(func.count()).select_from(content_metadata)).scalar_one()
        for name in names:
            assert b.execute(select(func.count()).where(content_metadata.c.account == name)).scalar_one() == source
    client = TestClient(create_app(sim_settings, many, None), base_url=BASE)
    r = client.get("/posts", params={"account": "copy001"})
    assert r.status_code == 200 and all(f'<option value="{n}"' in r.text for n in names)
    assert "selected>copy001</option>" in r.text
    assert client.get("/", params={"account": "default"}).status_code == 404
    many.dispose()


@pytest.mark.postgres
def test_every_page_on_postgresql(store: SqlStore, sim_settings: Settings, pg_url: str) -> None:
    pg = SqlStore(pg_url)
    copy_account(store, pg, "default", 1)
    client = TestClient(create_app(sim_settings.model_copy(update={"account": "copy000"}), pg, None), base_url=BASE)
    for path in ("/", "/posts?sort=attributed", "/learning", "/jobs", "/replies"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert figures(r.text) or path.startswith(("/posts", "/replies"))
    pg.dispose()


def test_bench_times_every_page_on_both_databases(sim_settings: Settings, tmp_path: Path) -> None:
    result = run_bench(sim_settings, 2, tmp_path / "copies.db", repeat=1)
    single, many = result["databases"]
    assert many["accounts"] == 2 and many["account"] == "copy001"
    for db in (single, many):
        assert set(db["pages"]) == {
            "overview",
            "posts",
            "posts sorted by follows",
            "post",
            "learning",
            "jobs",
            "replies",
        }
        assert all(p["median_ms"] > 0 and p["cold_ms"] > 0 for p in db["pages"].values())


def test_serve_refuses_a_missing_database_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = CliRunner().invoke(cli_app, ["serve", "--db", str(missing)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("error: database") and "is not initialised (no such file)" in lines[0]
    )
    assert not missing.exists()


def test_serve_refuses_an_unknown_account_in_one_line(sim_db: Path) -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--db", str(sim_db), "--account", "nobody"])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: --account: no account 'nobody' in sqlite:///{sim_db} (accounts: default)"


def test_bench_web_prints_each_page_and_the_verdict(sim_db: Path) -> None:
    result = CliRunner().invoke(cli_app, ["bench-web", "--db", str(sim_db), "--accounts", "0", "--repeat", "2"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.startswith(("overview", "learning", "jobs"))]
    assert [r[0] for r in rows] == ["overview", "learning", "jobs"] and all(float(r[1]) > 0 for r in rows)
    assert re.search(r"slowest median [\d.]+ ms: (within|OVER) the 200 ms target", result.output)


def test_an_empty_live_account_is_judged_at_the_clock_and_every_page_loads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    empty = SqlStore(url)
    empty.upgrade()
    settings = load_settings(None, database_url=url)
    ensure_account(empty, settings, START)
    client = TestClient(create_app(settings, empty, None, clock=VirtualClock(START)), base_url=BASE)
    overview = client.get("/")
    assert overview.status_code == 200 and "judged at 2026-03-02 00:00 UTC" in overview.text
    assert "simulation" not in overview.text
    for path in ("/posts", "/learning", "/jobs", "/replies"):
        assert client.get(path).status_code == 200, path
    assert "No model learned yet" in client.get("/learning").text
    assert "no posts match" in client.get("/posts").text
    empty.dispose()


@pytest.mark.postgres
def test_bench_web_on_postgresql_needs_a_file_for_the_copies(pg_url: str) -> None:
    pg = SqlStore(pg_url)
    pg.upgrade()
    unknown = CliRunner().invoke(cli_app, ["bench-web", "--db", pg_url, "--repeat", "1"])
    assert unknown.exit_code == 2 and "error: --account: no account 'default' in postgresql" in unknown.output
    ensure_account(pg, load_settings(None, database_url=pg_url), START)
    pg.dispose()
    result = CliRunner().invoke(cli_app, ["bench-web", "--db", pg_url, "--repeat", "1"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: --copies-db: needed when --db is not a SQLite file (or pass --accounts 0)"
    )
