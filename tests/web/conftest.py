"""The dashboard's fixtures: one simulated database per test module (three days: enough for learned tables,
final attributions and drafted replies), and settings to serve it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from growthloop.adapters.store.store import SqlStore
from growthloop.config import Settings, load_settings
from growthloop.simulation import plan_simulation, run_simulation
from tests.conftest import START, built_once

DAYS = 3


def _simulate(path: Path) -> None:
    store = SqlStore(f"sqlite:///{path}")
    store.upgrade()
    settings = load_settings(None, database_url=f"sqlite:///{path}")
    run_simulation(store, settings, plan_simulation(None, 5, DAYS, START), resume=False)
    store.dispose()  # the last close checkpoints the WAL into the file


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The simulation is run once per test run (`built_once`); each module gets its own copy to change."""
    master = built_once(tmp_path_factory, "web-sim", _simulate)
    path = tmp_path_factory.mktemp("web") / "sim.db"
    for suffix in ("", "-wal"):
        if Path(f"{master}{suffix}").exists():
            shutil.copyfile(f"{master}{suffix}", f"{path}{suffix}")
    yield path


@pytest.fixture(scope="module")
def sim_settings(sim_db: Path) -> Settings:
    return load_settings(None, database_url=f"sqlite:///{sim_db}")


def sim_end() -> str:
    return (START + timedelta(days=DAYS)).strftime("%Y-%m-%d %H:%M")
