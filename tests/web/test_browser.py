"""The dashboard in a real browser: `growthloop serve` in a subprocess, Debian's chromium driven by Playwright.

Every page of a simulated database at a laptop's and a phone's width: no console error, every plot drawn
with marks in its SVG, nothing wider than the screen, a screenshot of each in test-artifacts/web/. Then a
person signs in with the token, approves a drafted reply and sees it move to the queued ones.

Skipped with the reason when /usr/bin/chromium or Playwright is missing, except under CI=true (then failed):
`scripts/setup` installs both. Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, reply_opportunities
from tests.e2e.conftest import cli_env, growthloop_cmd

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-test-token"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
VIEWPORTS = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
# Plotly draws markers as path.point, lines as path.js-line, bars as .point path: a drawn plot has some
MARKS = ".scatterlayer path.point, .scatterlayer path.js-line, .barlayer .point path"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}: scripts/setup installs it")
    pytest.skip(f"{reason} (scripts/setup installs it; required when CI=true)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(sim_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`growthloop serve` as a user starts it, with the action token in its environment."""
    port = _free_port()
    cwd = tmp_path_factory.mktemp("serve")
    proc = subprocess.Popen(
        [*growthloop_cmd(), "serve", "--db", str(sim_db), "--port", str(port)],
        cwd=cwd,
        env=cli_env({"GROWTHLOOP_WEB_TOKEN": TOKEN}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/static/app.css", timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"growthloop serve did not start: {proc.communicate()[0]}")
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def post_id(sim_db: Path) -> int:
    store = SqlStore(f"sqlite:///{sim_db}")
    cm = content_metadata
    with store.connect() as conn:
        found = conn.execute(
            select(cm.c.id).where(cm.c.status == "posted", cm.c.kind == "post").order_by(cm.c.id).limit(1)
        ).scalar_one()
    store.dispose()
    return int(found)


def _open(browser: Any, viewport: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: errors.append(f"console {msg.type}: {msg.text} at {msg.location}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return context, page, errors


def _screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


PAGES = {
    "overview": ("/", 1),
    "posts": ("/posts?status=posted&sort=attributed", 0),
    "post": ("/posts/{post_id}", 1),
    "learning": ("/learning", 7),  # six forest plots and the policies' estimates
    "jobs": ("/jobs", 1),
    "replies": ("/replies", 0),
}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_loads_clean_with_its_plots_drawn(
    browser: Any, server: str, post_id: int, name: str, viewport: str
) -> None:
    path, plots = PAGES[name]
    context, page, errors = _open(browser, viewport)
    try:
        response = page.goto(server + path.format(post_id=post_id), wait_until="load")
        assert response is not None and response.status == 200
        charts = page.locator("div.chart")
        assert charts.count() == plots
        page.wait_for_function(
            "[...document.querySelectorAll('div.chart')].every(d => d.dataset.rendered === '1')", timeout=30_000
        )
        for i in range(plots):
            marks = charts.nth(i).locator(MARKS).count()
            assert marks > 0, f"plot {i} of {name} has no marks"
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1] + 1, f"{name} is wider than the {viewport}'s screen: {width}"
        _screenshot(page, f"{viewport}-{name}")
        assert errors == []
    finally:
        context.close()


def _outscore_the_queued(sim_db: Path) -> None:
    """Give the best drafted opportunity a score above every queued one: the tables show the best 50 by score,
    and how many queued opportunities outscore the drafted ones depends on the simulation (on some machines 75
    of 87), so that the approved one appears among the queued in the page whatever the data."""
    ro = reply_opportunities
    store = SqlStore(f"sqlite:///{sim_db}")
    with store.begin() as conn:
        top = conn.execute(select(func.max(ro.c.score))).scalar_one()
        best = conn.execute(
            select(ro.c.id).where(ro.c.status == "drafted").order_by(ro.c.score.desc()).limit(1)
        ).scalar_one()
        conn.execute(update(ro).where(ro.c.id == best).values(score=top + 1))
    store.dispose()


def test_a_person_approves_a_drafted_reply_and_sees_it_move(browser: Any, server: str, sim_db: Path) -> None:
    _outscore_the_queued(sim_db)
    context, page, errors = _open(browser, "laptop")
    try:
        page.goto(f"{server}/replies")
        assert page.locator("table.drafts button.approve").first.is_disabled()  # not signed in yet
        page.fill("input[name=token]", TOKEN)
        page.click("text=sign in to act")
        page.wait_for_url(f"{server}/replies")
        row = page.locator("table.drafts tr[id^=opportunity-]").first
        opportunity = int(row.get_attribute("id").removeprefix("opportunity-"))
        row.locator("button.approve").click()
        page.wait_for_url(f"**/replies?account=default&decided={opportunity}")
        assert page.inner_text("#decided") == f"reply opportunity {opportunity}: queued"
        assert page.locator(f"table.drafts #opportunity-{opportunity}").count() == 0
        _screenshot(page, "laptop-replies-after-approval")
        page.select_option("form.filters select[name=status]", "queued")
        page.click("form.filters button")
        page.wait_for_url("**/replies?account=default&status=queued")
        assert "queued" in page.locator(f"table.opportunities #opportunity-{opportunity}").inner_text()
        assert errors == []
    finally:
        context.close()
    store = SqlStore(f"sqlite:///{sim_db}")
    with store.connect() as conn:
        status = conn.execute(
            select(reply_opportunities.c.status).where(reply_opportunities.c.id == opportunity)
        ).scalar_one()
    store.dispose()
    assert status == "queued"


def test_a_person_pauses_a_job_and_sees_it_paused(browser: Any, server: str) -> None:
    context, page, errors = _open(browser, "laptop")
    try:
        page.goto(f"{server}/jobs")
        assert page.locator("#job-learn button.pause").is_disabled()  # not signed in yet
        page.fill("input[name=token]", TOKEN)
        page.click("text=sign in to act")
        page.wait_for_url(f"{server}/jobs")
        page.click("#job-learn button.pause")
        page.wait_for_url("**/jobs?account=default")
        assert page.inner_text("#job-learn td.paused").startswith("paused by the dashboard")
        _screenshot(page, "laptop-jobs-paused")
        page.click("#job-learn button.resume")
        page.wait_for_url("**/jobs?account=default")
        assert page.inner_text("#job-learn td.paused") == "no"
        assert errors == []
    finally:
        context.close()
