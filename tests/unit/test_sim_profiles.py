"""Capability profiles in the simulator: a world saying `platform = "bluesky"` or `"mastodon"` hides what that
platform hides, and attribution and learning then fall back to what is shown (engagements)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from growthloop.adapters.platforms.sim.profiles import PROFILES
from growthloop.adapters.platforms.sim.world import default_world_path, parse_world
from growthloop.adapters.store.tables import metric_snapshots, post_attribution
from growthloop.bench.runs import run_bench
from growthloop.domain import GRAPHEMES, MASTODON, TWITTER_TEXT
from growthloop.errors import ConfigError
from growthloop.learning.steps import surrogate
from growthloop.loop.history import load_history
from growthloop.text import text_length
from tests.conftest import Loop


def _world(platform: str) -> str:
    text = default_world_path().read_text()
    return text.replace('name = "default"', f'name = "default"\nplatform = "{platform}"', 1)


def test_a_world_names_the_platform_whose_capabilities_it_has() -> None:
    assert parse_world(default_world_path().read_text()).platform == "x"
    assert parse_world(_world("mastodon")).platform == "mastodon"
    with pytest.raises(ConfigError, match="platform"):
        parse_world(_world("myspace"), "w.toml")


@pytest.mark.parametrize(("platform", "rule", "limit"), [("bluesky", GRAPHEMES, 300), ("mastodon", MASTODON, 500)])
def test_bluesky_and_mastodon_show_only_likes_reposts_replies_and_quotes(
    store,
    settings,  # type: ignore[no-untyped-def]
    platform: str,
    rule: str,
    limit: int,
) -> None:
    loop = Loop(store, settings, _world(platform))
    caps = loop.platform.capabilities()
    assert (caps.impressions, caps.profile_clicks, caps.length_rule, caps.max_weighted_length) == (
        False,
        False,
        rule,
        limit,
    )
    loop.run_for(30)
    with store.connect() as conn:
        snaps = conn.execute(select(metric_snapshots)).all()
        history = load_history(
            loop.wiring.records, conn, "default", settings, loop.clock.now().replace(year=2000), loop.clock.now()
        )
        attributed = conn.execute(select(post_attribution.c.attributed_followers)).scalars().all()
    assert snaps and all(s.impressions is None and s.profile_clicks is None for s in snaps)
    assert all(s.bookmarks is None and s.link_clicks is None for s in snaps)
    assert all(s.likes is not None and s.reposts is not None and s.quotes is not None for s in snaps)
    assert history.given == ("engagements",)  # the bookmarks it hides do not hide the engagements it shows
    assert surrogate(history.given) == "engagements"
    assert attributed and any(a is not None for a in attributed)


def test_x_keeps_every_signal(store, settings) -> None:  # type: ignore[no-untyped-def]
    loop = Loop(store, settings)
    assert loop.platform.capabilities().length_rule == TWITTER_TEXT
    loop.run_for(30)
    with store.connect() as conn:
        history = load_history(
            loop.wiring.records, conn, "default", settings, loop.clock.now().replace(year=2000), loop.clock.now()
        )
    assert surrogate(history.given) == "profile_clicks"


def test_the_profiles_hide_and_count_as_the_real_adapters_do() -> None:
    counters = dict.fromkeys(
        ("impressions", "likes", "reposts", "replies", "quotes", "bookmarks", "profile_clicks", "link_clicks"), 3
    )
    assert PROFILES["x"].hide(counters) == counters
    shown = PROFILES["bluesky"].hide(counters)
    assert {k for k, v in shown.items() if v is not None} == {"likes", "reposts", "replies", "quotes"}
    assert PROFILES["mastodon"].signals == ("engagements",) and PROFILES["x"].signals[:2] == (
        "impressions",
        "profile_clicks",
    )
    assert text_length("\U0001f44d" * 10, PROFILES["bluesky"].capabilities.length) == 10


def test_bench_runs_each_world_under_each_platforms_capabilities() -> None:
    result = run_bench(
        [default_world_path()],
        days=2,
        seeds=1,
        policies=["oracle", "uniform", "bayes"],
        workers=1,
        capabilities=["x", "mastodon"],
    )
    assert set(result["figures"]) == {"default [x]", "default [mastodon]"}
    assert {r["capabilities"] for r in result["runs"]} == {"x", "mastodon"}
    # the same world draws: what the policies gained by posting differs only through what the learner saw
    oracle = {r["capabilities"]: r["expected_gain"] for r in result["runs"] if r["policy"] == "oracle"}
    assert oracle["x"] == oracle["mastodon"]
    with pytest.raises(ValueError, match="unknown capabilities"):
        run_bench([default_world_path()], days=1, seeds=1, capabilities=["myspace"])


def test_simulate_capabilities_replaces_the_worlds_platform_and_survives_a_resume(store, settings) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from growthloop.simulation import load_plan, plan_simulation, run_simulation

    plan = plan_simulation(None, 7, 0.25, datetime(2026, 1, 5, tzinfo=UTC), "bluesky")
    assert plan.world.platform == "bluesky"
    run_simulation(store, settings, plan, False)
    resumed, _ = load_plan(store, "default")
    assert resumed.world.platform == "bluesky"
    with store.connect() as conn:
        impressions = conn.execute(select(metric_snapshots.c.impressions)).scalars().all()
    assert impressions and all(i is None for i in impressions)


@pytest.mark.parametrize(
    "command", [["bench", "--days", "1", "--seeds", "1"], ["simulate", "--days", "0.1", "--db", "g.db"]]
)
def test_an_unknown_platform_is_one_line_exit_2_nothing_written(command: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.conftest import invoke_cli

    done = invoke_cli([*command, "--capabilities", "myspace"], tmp_path)  # in this process: a refusal at the start
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--capabilities" in lines[0] and "myspace" in lines[0] and "mastodon" in lines[0]
    assert not (tmp_path / "g.db").exists()
