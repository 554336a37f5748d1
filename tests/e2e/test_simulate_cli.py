"""`growthloop simulate` end to end: one 7-day run, checked from its JSON summary and from the database,
then the read commands (`status`, `jobs list`, `learn show`, `posts`) and `jobs run learn` on its result."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, update

from growthloop.adapters.platforms.sim.audience import Audience
from growthloop.adapters.platforms.sim.world import parse_world
from growthloop.adapters.store.tables import (
    app_state,
    content_metadata,
    follower_snapshots,
    job_runs,
    performance_tables,
    post_attribution,
)
from growthloop.domain import DIMENSIONS

from .conftest import (
    ACCOUNT,
    DEFAULT_INTERVALS,
    JOB_NAMES,
    POSTS_PER_HOUR,
    REPLIES_PER_HOUR,
    SIM_START,
    copy_db,
    describe,
    dump_tables,
    init_db,
    invoke_cli,
    max_in_closed_hour,
    parse_json_stdout,
    run_cli,
    sqlite_engine,
)

DAYS = 7


@dataclass
class SimRun:
    db: Path
    cwd: Path
    proc: subprocess.CompletedProcess[str]
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def sim(module_dir: Path) -> SimRun:
    """`growthloop init` then `growthloop simulate --days 7 --json`, once for the module."""
    cwd = module_dir / "cwd"
    cwd.mkdir()
    db = init_db(module_dir / "sim.db", cwd, run=invoke_cli)
    proc = run_cli(["simulate", "--days", DAYS, "--json", "--db", db, "--start", SIM_START], cwd, timeout=300)
    assert proc.returncode == 0, describe(proc)
    return SimRun(db, cwd, proc, parse_json_stdout(proc))


@pytest.fixture(scope="module")
def engine(sim: SimRun):  # type: ignore[no-untyped-def]
    e = sqlite_engine(sim.db)
    yield e
    e.dispose()


def _end(sim: SimRun) -> datetime:
    return datetime.fromisoformat(sim.summary["end"])


def _posted(engine, kind: str | None = "post") -> list[Any]:  # type: ignore[no-untyped-def]
    """Posted rows of one kind ("post" or "reply"), or of every kind with kind=None."""
    cm = content_metadata
    query = select(cm).where(cm.c.account == ACCOUNT, cm.c.status == "posted").order_by(cm.c.posted_at)
    if kind is not None:
        query = query.where(cm.c.kind == kind)
    with engine.connect() as conn:
        return conn.execute(query).all()


def _status_counts(engine, kind: str | None = "post") -> dict[str, int]:  # type: ignore[no-untyped-def]
    cm = content_metadata
    query = select(cm.c.status, func.count()).where(cm.c.account == ACCOUNT).group_by(cm.c.status)
    if kind is not None:
        query = query.where(cm.c.kind == kind)
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


# -- the run and its summary --------------------------------------------------------------------------------


def test_stdout_is_json_only_and_banner_goes_to_stderr(sim: SimRun) -> None:
    assert isinstance(sim.summary, dict)
    assert sim.proc.stdout.lstrip().startswith("{")
    # The banner and the progress bar are on stderr, not mixed into the JSON.
    assert re.search(r"configuration\s+[0-9a-f]{12}", sim.proc.stderr), sim.proc.stderr
    for name in JOB_NAMES:
        assert re.search(rf"^\s*{name}\s+every\s+", sim.proc.stderr, re.M), (name, sim.proc.stderr)
    assert "configuration" not in sim.proc.stdout


def test_summary_figures(sim: SimRun) -> None:
    s = sim.summary
    assert s["start"] == SIM_START
    assert _end(sim) == datetime.fromisoformat(SIM_START) + timedelta(days=DAYS)
    assert s["days"] == DAYS
    assert s["posts"]["published"] >= 300
    assert s["posts"]["max_in_any_rolling_hour"] <= 2
    assert s["posts"]["posted_without_platform_id_or_time"] == 0
    assert s["posts"]["missing_a_dimension"] == 0
    assert s["failed_runs"] == 0
    assert s["attribution"]["posts_older_than_2h_without_row"] == 0
    assert s["followers"]["snapshots"] == DAYS * 96 + 1
    assert s["followers"]["max_gap_minutes"] == 15
    assert isinstance(s["wall_seconds"], (int, float)) and s["wall_seconds"] > 0
    learning = s["learning"]
    for key in (
        "spearman_values_mean",
        "spearman_values_pooled",
        "spearman_posts_vs_true_follows",
        "spearman_posts_vs_expected_follows",
    ):
        assert learning.get(key) is not None, (key, learning)
        assert -1 <= learning[key] <= 1
    assert set(learning["spearman_values_by_dimension"]) == set(DIMENSIONS)
    assert set(learning["tables"]) == set(DIMENSIONS)
    assert all(t["rows"] > 0 and t["uses"] > 0 for t in learning["tables"].values()), learning["tables"]


def test_summary_agrees_with_the_database(sim: SimRun, engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        snapshots = conn.execute(select(func.count()).select_from(follower_snapshots)).scalar_one()
    assert sim.summary["posts"]["published"] == len(_posted(engine))
    assert sim.summary["posts"]["by_status"] == _status_counts(engine)
    assert sim.summary["followers"]["snapshots"] == snapshots
    if "replies" in sim.summary:
        assert sim.summary["replies"]["published"] == len(_posted(engine, "reply"))


# -- the database, checked directly --------------------------------------------------------------------------


def test_at_least_300_posts_published(engine) -> None:  # type: ignore[no-untyped-def]
    assert len(_posted(engine)) >= 300


def test_never_more_than_two_posts_in_any_rolling_hour(engine) -> None:  # type: ignore[no-untyped-def]
    worst = max_in_closed_hour([r.posted_at for r in _posted(engine)])
    assert worst <= POSTS_PER_HOUR, f"{worst} posts within one hour"


def test_never_more_than_four_replies_in_any_rolling_hour(engine) -> None:  # type: ignore[no-untyped-def]
    worst = max_in_closed_hour([r.posted_at for r in _posted(engine, "reply")])
    assert worst <= REPLIES_PER_HOUR, f"{worst} replies within one hour"


def test_every_posted_row_has_platform_id_time_and_all_dimensions(sim: SimRun, engine) -> None:  # type: ignore[no-untyped-def]
    start, end = datetime.fromisoformat(SIM_START), _end(sim)
    bad = []
    for r in _posted(engine, kind=None):
        if not r.tweet_id or r.posted_at is None or not start <= r.posted_at <= end:
            bad.append((r.decision_id, r.tweet_id, r.posted_at))
        missing = [d for d in DIMENSIONS if not (getattr(r, d) or "").strip()]
        if missing:
            bad.append((r.decision_id, "missing", missing))
    assert not bad, bad[:10]
    with engine.connect() as conn:
        ids = [
            r[0] for r in conn.execute(select(content_metadata.c.tweet_id).where(content_metadata.c.status == "posted"))
        ]
    assert len(ids) == len(set(ids)), "two posts share a platform id"


def test_every_post_older_than_two_hours_has_an_attribution_row(sim: SimRun, engine) -> None:  # type: ignore[no-untyped-def]
    cutoff = _end(sim) - timedelta(hours=2)
    with engine.connect() as conn:
        attributed = set(conn.execute(select(post_attribution.c.decision_id)).scalars())
    old = [r.decision_id for r in _posted(engine, kind=None) if r.posted_at <= cutoff]
    assert len(old) >= 300
    missing = [d for d in old if d not in attributed]
    assert not missing, f"{len(missing)} posts older than 2 h without a post_attribution row: {missing[:10]}"


def test_performance_tables_filled_and_uses_match_posts_learned_from(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        learned_from = conn.execute(  # posts: replies are attributed but not learned from
            select(func.count())
            .select_from(
                post_attribution.join(
                    content_metadata, content_metadata.c.decision_id == post_attribution.c.decision_id
                )
            )
            .where(post_attribution.c.attributed_followers.is_not(None), content_metadata.c.kind == "post")
        ).scalar_one()
        assert learned_from > 0
        for dim, table in performance_tables.items():
            assert table.name == f"{dim}_performance"
            rows = conn.execute(select(table)).all()
            assert len(rows) >= 2, f"{table.name} is empty or has a single value"
            assert sum(r.uses for r in rows) == learned_from, (
                f"{table.name}: sum(uses) {sum(r.uses for r in rows)} != {learned_from} posts learned from"
            )
            for r in rows:
                assert (
                    r.ci_low is not None
                    and r.posterior_mean is not None
                    and r.ci_high is not None
                    and r.ci_low <= r.posterior_mean <= r.ci_high
                ), r


def test_a_follower_snapshot_every_fifteen_minutes(sim: SimRun, engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        times = list(
            conn.execute(select(follower_snapshots.c.observed_at).order_by(follower_snapshots.c.observed_at)).scalars()
        )
    assert len(times) == DAYS * 96 + 1
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert max(gaps) == 900
    assert min(gaps) == 900, "two snapshots closer than 15 minutes"
    assert times[0] == datetime.fromisoformat(SIM_START)
    assert times[-1] == _end(sim)


def test_no_job_run_failed_or_timed_out(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        bad = conn.execute(
            select(job_runs.c.job, job_runs.c.status, job_runs.c.error).where(
                job_runs.c.status.in_(["failed", "timed_out", "running"])
            )
        ).all()
        jobs_run = set(conn.execute(select(job_runs.c.job).distinct()).scalars())
    assert not bad, bad[:10]
    assert jobs_run == set(JOB_NAMES)


# -- the human output -------------------------------------------------------------------------------------


def test_human_output_prints_the_startup_banner(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    db = init_db(tmp_path / "short.db", cwd, run=invoke_cli)
    proc = run_cli(["simulate", "--days", "0.5", "--db", db, "--start", SIM_START], cwd, timeout=180)
    assert proc.returncode == 0, describe(proc)
    out = proc.stdout
    assert re.search(r"configuration\s+[0-9a-f]{12}\b", out), out
    human = {
        seconds: f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"
        for seconds in DEFAULT_INTERVALS.values()
    }
    for name in JOB_NAMES:
        interval = human[DEFAULT_INTERVALS[name]]
        line = re.search(rf"^\s*{name}\s+every\s+{interval}\b.*$", out, re.M)
        assert line, f"no banner line for {name} every {interval}:\n{out}"
        assert "enabled" in line.group(0), line.group(0)
    assert "Simulated 0.5 days" in out, out
    assert not out.lstrip().startswith("{")


# -- the read commands on the simulation's database ---------------------------------------------------------


def _json_command(sim: SimRun, *args: Any) -> Any:
    """A read command in this process (`invoke_cli`): the simulation above is the real process of this module."""
    proc = invoke_cli([*args, "--db", sim.db, "--json"], sim.cwd)
    assert proc.returncode == 0, describe(proc)
    return parse_json_stdout(proc)


def test_status_json(sim: SimRun, engine) -> None:  # type: ignore[no-untyped-def]
    data = _json_command(sim, "status")
    assert {"now", "queue", "followers", "jobs"} <= set(data), data.keys()
    assert datetime.fromisoformat(data["now"]) == _end(sim), "status judges a simulation at its virtual time"
    assert data["queue"] == _status_counts(engine, kind=None)
    assert data["followers"]["latest"] == sim.summary["followers"]["last"]
    periods = data.get("stages", data)  # the per-period counts: under "stages", or at the top level
    assert {"24h", "7d"} <= set(periods), data.keys()
    assert 0 < periods["24h"]["posted"] <= periods["7d"]["posted"] <= len(_posted(engine, kind=None))
    assert sorted(j["job"] for j in data["jobs"]) == sorted(JOB_NAMES)
    for j in data["jobs"]:
        assert j["enabled"] is True
        assert j["last_status"] == "succeeded", j
        assert datetime.fromisoformat(j["next_due"]) > _end(sim), j


def test_jobs_list_json(sim: SimRun) -> None:
    rows = _json_command(sim, "jobs", "list")
    assert isinstance(rows, list)
    assert [r["job"] for r in rows] == list(JOB_NAMES)
    for r in rows:
        assert {"job", "what", "enabled", "interval_s", "timeout_s", "next_due"} <= set(r), r
        assert r["interval_s"] == DEFAULT_INTERVALS[r["job"]]
        assert r["enabled"] is True and r["timeout_s"] > 0 and r["what"]
        assert r["next_due"] is not None and datetime.fromisoformat(r["next_due"]) > _end(sim), r


def test_learn_show_json(sim: SimRun) -> None:
    data = _json_command(sim, "learn", "show")
    assert set(data) == set(DIMENSIONS)
    learned_from = sim.summary["learning"]["posts_learned_from"]
    for dim, values in data.items():
        assert len(values) == sim.summary["learning"]["tables"][dim]["rows"]
        assert sum(v["uses"] for v in values) == learned_from, dim
        for v in values:
            assert v["dimension"] == dim
            assert {
                "value",
                "uses",
                "avg_impressions",
                "avg_followers",
                "posterior_mean",
                "ci_low",
                "ci_high",
                "confidence",
            } <= set(v), v
            assert v["ci_low"] <= v["posterior_mean"] <= v["ci_high"]
            assert 0 <= v["confidence"] <= 1


def test_posts_json(sim: SimRun) -> None:
    rows = _json_command(sim, "posts", "--limit", "5")
    assert isinstance(rows, list) and len(rows) == 5
    ids = [r["decision_id"] for r in rows]
    assert ids == sorted(ids, reverse=True), "newest first"
    for r in rows:
        assert r["account"] == ACCOUNT
        assert r["status"] in {"queued", "posting", "posted", "failed", "skipped"}
        assert all(r[d] for d in DIMENSIONS), r
        assert r["content"]
        if r["status"] == "posted":
            assert r["tweet_id"] and r["posted_at"]


# -- learning is idempotent ------------------------------------------------------------------------------------


def _performance(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    dump = dump_tables(db)
    return {t.name: dump[t.name] for t in performance_tables.values()}


def _jobs_run_learn(cwd: Path, db: Path) -> dict[str, Any]:
    proc = invoke_cli(["jobs", "run", "learn", "--db", db, "--json"], cwd)
    assert proc.returncode == 0, describe(proc)
    data = parse_json_stdout(proc)
    assert {"job", "status", "error", "items_in", "items_out"} <= set(data), data
    assert data["job"] == "learn" and data["error"] is None, data
    return data


def test_jobs_run_learn_twice_leaves_the_tables_identical(sim: SimRun, tmp_path: Path) -> None:
    db = copy_db(sim.db, tmp_path / "copy.db")
    before = _performance(db)
    assert all(before.values())
    first = _jobs_run_learn(sim.cwd, db)
    after_first = _performance(db)
    second = _jobs_run_learn(sim.cwd, db)
    after_second = _performance(db)
    # At the simulation's end the scheduled learn of that very time has run already, so the manual run
    # may be a recorded no-op (I9); either way nothing may change.
    assert first["status"] in {"succeeded", "skipped"} and second["status"] in {"succeeded", "skipped"}
    assert after_first == before
    assert after_second == after_first


def _advance_virtual_now(db: Path, minutes: int) -> None:
    engine = sqlite_engine(db)
    try:
        with engine.begin() as conn:
            now = datetime.fromisoformat(
                conn.execute(
                    select(app_state.c.value).where(app_state.c.account == ACCOUNT, app_state.c.key == "virtual_now")
                ).scalar_one()
            )
            conn.execute(
                update(app_state)
                .where(app_state.c.account == ACCOUNT, app_state.c.key == "virtual_now")
                .values(value=(now + timedelta(minutes=minutes)).isoformat())
            )
    finally:
        engine.dispose()


def test_learning_rerun_over_the_same_facts_gives_the_same_tables(sim: SimRun, tmp_path: Path) -> None:
    """Two learn runs that really run (at later virtual minutes, so their run keys differ), over the
    facts the simulation's last scheduled learn saw: every row identical, ids and updated_at included."""
    db = copy_db(sim.db, tmp_path / "copy.db")
    before = _performance(db)
    learned_from = sim.summary["learning"]["posts_learned_from"]
    for minute in (1, 2):
        _advance_virtual_now(db, 1)
        data = _jobs_run_learn(sim.cwd, db)
        assert data["status"] == "succeeded", (minute, data)
        assert data["items_in"] == learned_from, data
        assert _performance(db) == before, f"learn run at +{minute} min changed the performance tables"


def _truths(engine, decision_ids: set[str]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Per post, in the logged posts' contexts (time, recent topics), from the simulator's own audience model
    of this run's world: the true expected follows of the choices logged, and of uniform random choices."""
    with engine.connect() as conn:
        state = {r.key: r.value for r in conn.execute(select(app_state.c.key, app_state.c.value))}
    world = parse_world(state["sim_world_text"]).with_seed(state["sim_seed"])
    audience = Audience(world, origin=datetime.fromisoformat(state["sim_start"]))
    rng = np.random.default_rng(7)
    posts = _posted(engine)
    topics = [p.topic for p in posts]
    logged, uniform = [], []
    for k, p in enumerate(posts):
        if p.decision_id not in decision_ids:
            continue
        recent = topics[max(0, k - world.fatigue.window) : k]
        logged.append(audience.expected_follows({d: getattr(p, d) for d in DIMENSIONS}, p.posted_at, recent))
        for _ in range(16):
            dims = {d: v[int(rng.integers(len(v)))] for d, v in world.dimensions.items()}
            uniform.append(audience.expected_follows(dims, p.posted_at, recent))
    return float(np.mean(logged)), float(np.mean(uniform))


def test_learn_evaluate_reports_every_estimator_against_the_logged_value(sim: SimRun, engine) -> None:  # type: ignore[no-untyped-def]
    """`learn evaluate` on a logged run of our policy: every estimator with its interval, and the logged
    value itself (attributed followers per post) covering the truth of the choices made.

    Not asserted: that the doubly robust interval covers uniform random's true value. It does in the
    benchmark (60 of 60 runs), but not in this run: see docs/learning.md, "Limits"."""
    data = _json_command(sim, "learn", "evaluate", "--policy", "uniform")
    assert data["policy"] == "uniform" and data["decisions"] > 150
    assert "bayes" in data["logged_by"] and set(data["logged_by"]) <= {"bayes", "uniform"}
    estimates = data["estimates"]
    assert set(estimates) == {
        "ips",
        "snips",
        "pseudo_inverse",
        "doubly_robust",
        "doubly_robust_clipped",
        "doubly_robust_pi",
    }
    assert all(e["low"] <= e["value"] <= e["high"] and e["n"] == data["decisions"] for e in estimates.values())
    with engine.connect() as conn:
        final = set(
            conn.execute(select(post_attribution.c.decision_id).where(post_attribution.c.final.is_(True))).scalars()
        )
    logged_truth, uniform_truth = _truths(engine, final)
    logged = data["logged_value"]
    assert logged["low"] <= logged_truth <= logged["high"], (logged_truth, logged)
    # our policy did better than uniform random would have, and the estimate says so. Its point, not its whole
    # interval: whether two 95% intervals over ~240 posts part depends on the run's path, which differs between
    # machines (float rounding in the fits): this commit's run parted them on one machine and not on another
    # (doubly robust clipped 0.139 [0.031, 0.247] against the logged 0.240 [0.168, 0.312]).
    assert uniform_truth < logged["low"], (uniform_truth, logged)
    assert estimates["doubly_robust_clipped"]["value"] < logged["value"], (estimates["doubly_robust_clipped"], logged)


def test_learn_evaluate_names_the_policies_it_knows(sim: SimRun) -> None:
    proc = invoke_cli(["learn", "evaluate", "--policy", "oracle", "--db", sim.db], sim.cwd)
    assert proc.returncode == 2
    assert "unknown policy 'oracle'; known: uniform, seed, bayes" in proc.stderr
    proc = invoke_cli(["learn", "evaluate", "--policy", "seed", "--db", sim.db], sim.cwd)
    assert proc.returncode == 0, describe(proc)
    assert "value of 'seed' per post" in proc.stdout and "estimate to quote: doubly_robust_clipped" in proc.stdout
