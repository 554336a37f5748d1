"""The account registry (growthloop/accounts.py) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from growthloop.accounts import (
    Account,
    active_accounts,
    add_account,
    get_account,
    list_accounts,
    pause_account,
    remove_account,
    resume_account,
    settings_for,
)
from growthloop.adapters.platforms.sim.world import default_world_path
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import accounts, app_state, job_runs, job_schedule, metadata
from growthloop.config import Settings
from growthloop.errors import UserError
from growthloop.jobs.lease import AccountLease
from tests.conftest import START, Loop


def _rows(store: SqlStore) -> list[Any]:
    with store.connect() as conn:
        return [tuple(r) for r in conn.execute(select(accounts).order_by(accounts.c.name))]


def test_add_get_list_pause_resume(store: SqlStore) -> None:
    world = str(default_world_path())
    a = add_account(store, "brand-2", "sim", world, None, START)
    assert a == Account("brand-2", "sim", str(Path(world).resolve()), None, None, START)
    add_account(store, "alpha", "x", None, None, START + timedelta(minutes=1))
    assert [x.name for x in list_accounts(store)] == ["alpha", "brand-2"]
    assert get_account(store, "alpha").platform == "x"

    paused = pause_account(store, "alpha", START + timedelta(hours=1), "ops")
    assert (paused.paused_at, paused.paused_by, paused.paused) == (START + timedelta(hours=1), "ops", True)
    assert [x.name for x in active_accounts(store)] == ["brand-2"]
    # pausing again keeps the first pause
    assert pause_account(store, "alpha", START + timedelta(hours=2), "other").paused_by == "ops"
    assert not resume_account(store, "alpha").paused
    assert [x.name for x in active_accounts(store)] == ["alpha", "brand-2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad name", "sim", None, None), "account name 'bad name': use 1 to 64 letters"),
        (("-x", "sim", None, None), "account name '-x'"),
        (("a" * 65, "sim", None, None), "account name"),
        (("ok", "myspace", None, None), "platform 'myspace': use one of sim, x, mastodon, bluesky"),
        (("ok", "sim", "no/such/world.toml", None), "world file 'no/such/world.toml': no such file"),
        (("ok", "x", "WORLD", None), "a world file is for the simulated platform (sim), not x"),
        (("ok", "sim", None, "no/such.toml"), "settings file 'no/such.toml': no such file"),
        (("taken", "sim", None, None), "account 'taken' exists already; pick another name"),
        (("TAKEN", "sim", None, None), "would share its secrets' variables (GROWTHLOOP_ACCOUNTS__TAKEN__...)"),
    ],
)
def test_bad_add_is_one_line_and_writes_nothing(
    store: SqlStore, args: tuple[Any, ...], message: str, tmp_path: Path
) -> None:
    add_account(store, "taken", "sim", None, None, START)
    before = _rows(store)
    name, platform, world, config = args
    world = str(default_world_path()) if world == "WORLD" else world
    with pytest.raises(UserError) as exc:
        add_account(store, name, platform, world, config, START)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)
    assert _rows(store) == before


def test_bad_world_and_settings_files_are_refused(store: SqlStore, tmp_path: Path) -> None:
    bad_world = tmp_path / "world.toml"
    bad_world.write_text("seed = 'x'\n")
    bad_config = tmp_path / "settings.toml"
    bad_config.write_text("posts_per_hour = 0\n")
    with pytest.raises(UserError, match="world.toml"):
        add_account(store, "a", "sim", bad_world, None, START)
    with pytest.raises(UserError, match=r"settings.toml: posts_per_hour"):
        add_account(store, "a", "sim", None, bad_config, START)
    assert _rows(store) == []


def test_unknown_account_names_it(store: SqlStore) -> None:
    add_account(store, "alpha", "sim", None, None, START)
    for call in (
        lambda: get_account(store, "nope"),
        lambda: pause_account(store, "nope", START, "ops"),
        lambda: resume_account(store, "nope"),
        lambda: remove_account(store, "nope", False, START),
        lambda: remove_account(store, "nope", True, START),
    ):
        with pytest.raises(UserError, match=r"unknown account 'nope' \(accounts: alpha\)"):
            call()
    assert len(_rows(store)) == 1


def test_remove_keeps_data_and_purge_deletes_only_that_account(store: SqlStore, settings: Settings) -> None:
    loop = Loop(store, settings)  # the settings' account, "default", with six simulated hours of rows
    loop.run_for(6)
    loop.scheduler.close()
    add_account(store, "other", "sim", None, None, START)
    other = Loop(store, settings_for(get_account(store, "other"), settings))
    other.run_for(6)
    other.scheduler.close()

    def counts(account: str) -> int:
        with store.connect() as conn:
            return sum(
                conn.execute(select(func.count()).select_from(t).where(t.c.account == account)).scalar_one()
                for t in metadata.sorted_tables
                if "account" in t.c
            )

    kept = counts("default")
    assert counts("other") > 20

    assert remove_account(store, "other", False, START) == 0
    assert [a.name for a in list_accounts(store)] == ["default"]
    with pytest.raises(UserError, match=r"account .other. was removed .*\(its data is kept\)"):
        get_account(store, "other")
    with pytest.raises(UserError, match="exists already; it was removed"):
        add_account(store, "other", "sim", None, None, START)
    assert counts("other") > 20

    assert remove_account(store, "other", True, START) > 20
    assert counts("other") == 0
    assert counts("default") == kept
    with store.connect() as conn:
        assert conn.execute(select(accounts.c.name)).scalars().all() == ["default"]
    add_account(store, "other", "sim", None, None, START)  # the name is free again


def test_purge_refused_while_the_account_runs(store: SqlStore) -> None:
    add_account(store, "busy", "sim", None, None, START)
    with AccountLease(store, "busy", heartbeat=False).acquire():
        with pytest.raises(UserError, match="account 'busy' is running .*stop that process before a purge"):
            remove_account(store, "busy", True, START)
    assert get_account(store, "busy").name == "busy"


def test_a_paused_account_runs_no_job_until_resumed(store: SqlStore, settings: Settings) -> None:
    add_account(store, "p", "sim", None, None, START)
    loop = Loop(store, settings_for(get_account(store, "p"), settings))
    pause_account(store, "p", START, "ops")
    loop.run_for(3)

    def runs() -> int:
        with store.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(job_runs).where(job_runs.c.account == "p")).scalar_one()
            )

    assert runs() == 0
    with store.connect() as conn:  # the slots passed: no burst at resume
        due = conn.execute(select(func.min(job_schedule.c.next_due)).where(job_schedule.c.account == "p")).scalar()
    assert due is not None and due > START + timedelta(hours=2)
    resume_account(store, "p")
    loop.run_for(1)
    assert runs() > 0
    loop.scheduler.close()


def test_settings_for(store: SqlStore, settings: Settings, tmp_path: Path) -> None:
    world = str(default_world_path())
    plain = settings_for(add_account(store, "plain", "sim", world, None, START), settings)
    assert (plain.account, plain.platform, plain.world) == ("plain", "sim", str(Path(world).resolve()))
    assert plain.database_url == settings.database_url
    assert plain.posts_per_hour == settings.posts_per_hour
    assert plain.secrets_account == "plain"

    own = tmp_path / "own.toml"
    own.write_text('account = "someone-else"\nposts_per_hour = 3\nplatform = "sim"\ndatabase_url = "sqlite:///x.db"\n')
    filed = settings_for(add_account(store, "filed", "mastodon", None, own, START), settings)
    assert (filed.account, filed.platform, filed.posts_per_hour) == ("filed", "mastodon", 3)
    assert filed.database_url == settings.database_url  # the deployment's database, whatever the file says
    assert filed.secrets_account == "filed"

    # the process's own account reads the single-account variables
    assert (
        settings_for(get_account(store, "plain"), settings.model_copy(update={"account": "plain"})).secrets_account
        is None
    )
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(app_state)).scalar_one() == 0
