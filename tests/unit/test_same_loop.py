"""The benchmark runs the loop users run: `growthloop simulate` (the real jobs on the real store, SQLite) and
`bench.engine.run_policy` make the same decisions on the same world, seed and policy.

Both sides run 3 days of the default world, seed 3, policy "bayes", from the bench's default start. The loop
does two things the bench does not model, switched off here on the loop's side (the bench has neither):
- replies (`jobs.replies.enabled = false`): a reply is a post of its own, with its own decision number;
- drafts the gate rejects: near-duplicates are not checked (`gate.recent_posts = 0`), and the run is of the
  first seed from 3 up in which the offline writer repeats no text in these 3 days (an exact duplicate is
  always refused). Which seed that is depends on the machine: the policy's draws follow the fits' floats, whose
  last bits differ between CPUs and BLAS kernels (seed 3 repeats a text on some machines and not on others).
`growthloop bench --through-jobs` runs the loop with both on; docs/learning.md says how much they change.

What is compared: every post's dimension values and logged propensities (equal), its attributed followers
and their sd, and the last fitted model (equal within 1e-9 relative: both sides do the same arithmetic on the
same numbers, and the store keeps them exactly, floats in SQLite's REAL and in JSON by their repr; the
tolerance only allows a different summation order of the same terms).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from growthloop.adapters.platforms.sim.world import default_world_path, load_world
from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata, post_attribution
from growthloop.bench.engine import DEFAULT_START, RunResult, run_policy
from growthloop.config import GateConfig, JobSettings, Settings
from growthloop.domain import DIMENSIONS, POSTED
from growthloop.loop.history import stored_model
from growthloop.simulation import plan_simulation, run_simulation

SEEDS = (3, 4, 5, 6, 7)
DAYS = 3.0
RTOL = 1e-9


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SqlStore, Settings, RunResult]]:
    replies_off = JobSettings(enabled=False, interval=3600)
    for seed in SEEDS:
        url = f"sqlite:///{tmp_path_factory.mktemp('same') / 'loop.db'}"
        store = SqlStore(url)
        store.upgrade()
        settings = Settings(database_url=url, jobs={"replies": replies_off}, gate=GateConfig(recent_posts=0))
        run_simulation(store, settings, plan_simulation(None, seed, DAYS, DEFAULT_START), resume=False)
        if _statuses(store) == {POSTED, "queued"}:
            break
        store.dispose()
    bench = run_policy(load_world(default_world_path()), seed, "bayes", DAYS, start=DEFAULT_START)
    yield store, settings, bench
    store.dispose()


def _statuses(store: SqlStore) -> set[str]:
    with store.connect() as conn:
        return set(conn.execute(select(content_metadata.c.status).distinct()).scalars())


def _posts(store: SqlStore) -> list[Any]:
    cm, pa = content_metadata, post_attribution
    statuses = _statuses(store)
    with store.connect() as conn:
        rows = conn.execute(
            select(cm, pa.c.attributed_followers, pa.c.attributed_sd)
            .join(pa, pa.c.decision_id == cm.c.decision_id, isouter=True)
            .where(cm.c.status == POSTED)
            .order_by(cm.c.posted_at)
        ).all()
    assert statuses == {POSTED, "queued"}, f"the gate rejected a draft with every seed of {SEEDS} ({statuses})"
    return list(rows)


def test_the_same_values_are_chosen_with_the_same_propensities(both: tuple[SqlStore, Settings, RunResult]) -> None:
    store, _, bench = both
    posts = _posts(store)
    assert len(posts) == len(bench.dimensions) == 144  # 2 posts an hour for 3 days
    assert [{d: p._mapping[d] for d in DIMENSIONS} for p in posts] == bench.dimensions
    assert [p.propensity for p in posts] == bench.propensity.tolist()
    # the policy learned: by the third day it no longer chooses uniformly
    assert {p.policy for p in posts} == {"bayes"} and min(p.propensity for p in posts[-48:]) > 1e-6


def test_the_same_followers_are_attributed_to_each_post(both: tuple[SqlStore, Settings, RunResult]) -> None:
    store, _, bench = both
    posts = _posts(store)
    loop = np.array([p.attributed_followers for p in posts], dtype=float)
    sd = np.array([p.attributed_sd for p in posts], dtype=float)
    assert np.isfinite(loop).all() and loop.sum() > 5
    np.testing.assert_allclose(loop, bench.attributed, rtol=RTOL, atol=0)
    np.testing.assert_allclose(sd, bench.attributed_sd, rtol=RTOL, atol=0)


def test_the_same_model_is_fitted(both: tuple[SqlStore, Settings, RunResult]) -> None:
    store, settings, bench = both
    with store.connect() as conn:
        model, as_of = stored_model(store, conn, settings.account, settings)
    assert model is not None
    fitted_at, fitted = bench.models[-1]
    assert as_of == "2025-11-06T00:00:00+00:00" and fitted_at == DEFAULT_START.timestamp() + DAYS * 86400
    assert len(bench.models) == 36  # every 2 hours but the first (nothing attributed yet)
    _assert_close(model.to_dict(), fitted.to_dict(), "model")


def _assert_close(a: Any, b: Any, where: str) -> None:
    if isinstance(a, Mapping):
        assert isinstance(b, Mapping) and set(a) == set(b), where
        for key in a:
            _assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=RTOL, abs=0, nan_ok=True), where
    else:
        assert a == b, where
