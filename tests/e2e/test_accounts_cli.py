"""`growthloop accounts add | list | pause | resume | remove`, and bad input: one line, exit 2, nothing written.

The commands run in this process (`invoke_cli`, Typer's runner): what is tested is what they print and write,
not a process of their own; `test_bad_input_from_the_console_script` runs one refusal through the installed
command, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from growthloop.adapters.platforms.sim.world import default_world_path
from growthloop.adapters.store.store import SqlStore
from growthloop.jobs.lease import AccountLease

from .conftest import copy_db, describe, dump_tables, init_db, invoke_cli, parse_json_stdout, run_cli


def _ok(args: list[str | Path], cwd: Path) -> str:
    proc = invoke_cli(args, cwd)
    assert proc.returncode == 0, describe(proc)
    return proc.stdout


def _listed(db: Path, cwd: Path) -> dict[str, dict[str, object]]:
    rows = parse_json_stdout(invoke_cli(["accounts", "list", "--json", "--db", db], cwd))
    return {r["account"]: r for r in rows}


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`growthloop init`, made once for the module: each test works on its own copy (`fresh`)."""
    d = tmp_path_factory.mktemp("accounts")
    return init_db(d / "template.db", d, run=invoke_cli)


@pytest.fixture
def fresh(initialised: Path, workdir: Path) -> Path:
    return copy_db(initialised, workdir / "g.db")


@pytest.fixture(scope="module")
def with_taken(initialised: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised database with a second account, "taken" (once for the module; tests copy it)."""
    d = tmp_path_factory.mktemp("taken")
    db = copy_db(initialised, d / "taken.db")
    _ok(["accounts", "add", "taken", "--db", db], d)
    return db


def test_add_list_pause_resume_remove(fresh: Path, workdir: Path) -> None:
    db = fresh
    world = default_world_path()
    assert "account brand-2 added: platform sim" in _ok(
        ["accounts", "add", "brand-2", "--world", world, "--db", db], workdir
    )
    added = _ok(["accounts", "add", "m1", "--platform", "mastodon", "--db", db], workdir)
    assert "its secret: GROWTHLOOP_ACCOUNTS__M1__MASTODON_ACCESS_TOKEN" in added

    listed = _listed(db, workdir)
    assert sorted(listed) == ["brand-2", "default", "m1"]
    assert listed["m1"]["platform"] == "mastodon" and listed["brand-2"]["state"] == "idle"
    assert listed["brand-2"]["world"] == str(world.resolve()) and listed["m1"]["config"] is None

    assert "account m1 paused by ana" in _ok(["accounts", "pause", "m1", "--by", "ana", "--db", db], workdir)
    store = SqlStore(f"sqlite:///{db}")
    with AccountLease(store, "brand-2", heartbeat=False):  # this test process runs brand-2
        listed = _listed(db, workdir)
        table = _ok(["accounts", "list", "--db", db], workdir)
    store.dispose()
    assert listed["m1"]["state"] == "paused" and listed["m1"]["paused_by"] == "ana"
    assert listed["brand-2"]["state"] == "running" and "pid" in str(listed["brand-2"]["holder"])
    # a paused account's jobs are expected to idle: doctor warns instead of failing them
    assert listed["m1"]["verdict"] == "warn"
    assert "3 accounts:" in table and "1 paused, 1 running" in table
    lines = [line for line in table.splitlines() if line.split()[:1] in (["brand-2"], ["default"], ["m1"])]
    assert [line.split()[0] for line in lines] == ["brand-2", "default", "m1"]  # failing first, then warning
    assert "paused by ana" in lines[2]

    _ok(["accounts", "resume", "m1", "--db", db], workdir)
    assert _listed(db, workdir)["m1"]["state"] == "idle"
    removed = _ok(["accounts", "remove", "m1", "--db", db], workdir)
    assert "its data is kept" in removed
    assert sorted(_listed(db, workdir)) == ["brand-2", "default"]
    assert "purged" in _ok(["accounts", "remove", "m1", "--purge", "--db", db], workdir)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["accounts", "pause", "nope"], "error: unknown account 'nope' (accounts: default, taken)"),
        (["accounts", "resume", "nope"], "error: unknown account 'nope'"),
        (["accounts", "remove", "nope", "--purge"], "error: unknown account 'nope'"),
        (["accounts", "add", "taken"], "error: account 'taken' exists already; pick another name"),
        (["accounts", "add", "Taken"], "would share its secrets' variables (GROWTHLOOP_ACCOUNTS__TAKEN__...)"),
        (["accounts", "add", "bad/name"], "error: account name 'bad/name': use 1 to 64 letters"),
        (["accounts", "add", "w", "--world", "no-such.toml"], "error: world file 'no-such.toml': no such file"),
        (["accounts", "add", "w", "--platform", "x", "--world", "WORLD"], "a world file is for the simulated"),
        (["accounts", "add", "w", "--platform", "myspace"], "error: platform 'myspace': use one of sim, x,"),
        (["accounts", "add", "w", "--config", "no-such.toml"], "no-such.toml: (file): no such file"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    with_taken: Path, workdir: Path, args: list[str], message: str
) -> None:
    db = copy_db(with_taken, workdir / "g.db")
    before = dump_tables(db)
    args = [str(default_world_path()) if a == "WORLD" else a for a in args]
    proc = invoke_cli([*args, "--db", db], workdir)
    assert proc.returncode == 2, describe(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], describe(proc)
    assert proc.stdout == ""
    assert dump_tables(db) == before


def test_bad_input_from_the_console_script(with_taken: Path, workdir: Path) -> None:
    """One refusal through a real process: what the installed command prints, end to end."""
    db = copy_db(with_taken, workdir / "g.db")
    before = dump_tables(db)
    proc = run_cli(["accounts", "add", "taken", "--db", db], workdir)
    assert proc.returncode == 2, describe(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["error: account 'taken' exists already; pick another name"], describe(proc)
    assert proc.stdout == ""
    assert dump_tables(db) == before


def test_status_and_doctor_show_every_account_on_one_screen_failing_first(fresh: Path, workdir: Path) -> None:
    db = fresh  # "default": never run, so its jobs' checks fail
    _ok(["accounts", "add", "a-paused", "--db", db], workdir)
    _ok(["accounts", "pause", "a-paused", "--by", "ana", "--db", db], workdir)  # paused: its checks only warn

    status = invoke_cli(["status", "--all-accounts", "--db", db], workdir)
    assert status.returncode == 0, describe(status)
    rows = [line.split()[0] for line in status.stdout.splitlines() if line.split()[:1] in (["default"], ["a-paused"])]
    assert rows == ["default", "a-paused"], describe(status)  # failing first, not by name
    assert "2 accounts: 1 failing checks, 1 paused, 0 running" in status.stdout
    as_json = parse_json_stdout(invoke_cli(["status", "--all-accounts", "--json", "--db", db], workdir))
    assert [(r["account"], r["verdict"], r["state"]) for r in as_json] == [
        ("default", "fail", "idle"),
        ("a-paused", "warn", "paused"),
    ]

    doctor = invoke_cli(["doctor", "--all-accounts", "--db", db], workdir)
    assert doctor.returncode == 1, describe(doctor)  # a failing check anywhere
    rows = [line.split()[0] for line in doctor.stdout.splitlines() if line.split()[:1] in (["default"], ["a-paused"])]
    assert rows == ["default", "a-paused"], describe(doctor)
    assert len(doctor.stdout.splitlines()) <= 6  # one screen: a title, a header, one line per account, a hint
    report = parse_json_stdout(invoke_cli(["doctor", "--all-accounts", "--json", "--db", db], workdir))
    assert list(report["accounts"]) == ["default", "a-paused"]
    assert report["accounts"]["a-paused"]["state"] == "warn"


def test_jobs_run_refuses_a_paused_or_removed_account(fresh: Path, workdir: Path) -> None:
    db = fresh
    _ok(["accounts", "add", "p", "--db", db], workdir)
    _ok(["accounts", "pause", "p", "--by", "ana", "--db", db], workdir)
    before = dump_tables(db)
    proc = invoke_cli(["jobs", "run", "plan", "--account", "p", "--db", db], workdir)
    assert proc.returncode == 2, describe(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "account 'p' is paused by ana since" in lines[0], describe(proc)
    assert "growthloop accounts resume p" in lines[0]
    assert dump_tables(db) == before

    _ok(["accounts", "remove", "p", "--db", db], workdir)
    before = dump_tables(db)
    proc = invoke_cli(["jobs", "run", "plan", "--account", "p", "--db", db], workdir)
    assert proc.returncode == 2 and "account 'p' was removed" in proc.stderr, describe(proc)
    assert dump_tables(db) == before


def test_a_registered_account_runs_with_its_own_platform_settings_and_secrets(fresh: Path, workdir: Path) -> None:
    db = fresh
    own = workdir / "m.toml"
    own.write_text('[mastodon]\nbase_url = "http://127.0.0.1:9"\n')
    _ok(["accounts", "add", "m", "--platform", "mastodon", "--config", own, "--db", db], workdir)
    before = dump_tables(db)
    # the deployment's settings say sim; the account's say Mastodon, and its token is its own variable
    proc = invoke_cli(["jobs", "run", "followers", "--account", "m", "--db", db], workdir)
    assert proc.returncode == 2, describe(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: environment: GROWTHLOOP_ACCOUNTS__M__MASTODON_ACCESS_TOKEN: not set: put the "
        "account's access token (scopes read and write) in the environment"
    ], describe(proc)
    assert {k: v for k, v in dump_tables(db).items() if k != "account_leases"} == {
        k: v for k, v in before.items() if k != "account_leases"
    }


def test_the_platform_defaults_to_the_accounts_settings_file(fresh: Path, workdir: Path) -> None:
    db = fresh
    own = workdir / "b.toml"
    own.write_text('platform = "bluesky"\n')
    added = _ok(["accounts", "add", "b.2", "--config", own, "--db", db], workdir)
    assert "account b.2 added: platform bluesky" in added
    assert "its secret: GROWTHLOOP_ACCOUNTS__B_2__BLUESKY_APP_PASSWORD" in added
    listed = _listed(db, workdir)["b.2"]
    assert listed["platform"] == "bluesky"
