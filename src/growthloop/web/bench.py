"""Each dashboard page's server time: requests through Starlette's test client, in process (no network),
on the given database and on a database of N relabelled copies of its account (`copies.py`), built on first
use and reused when it exists.

For each page the first request (cold: caches empty, the model parsed, evaluations computed) is reported
apart from the median of the next `repeat` requests (what a person clicking about sees).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from growthloop.adapters.store.store import SqlStore
from growthloop.adapters.store.tables import content_metadata
from growthloop.bootstrap import account_names, open_store
from growthloop.config import Settings
from growthloop.domain import POSTED
from growthloop.errors import UsageError
from growthloop.web.copies import copy_account, copy_name

TARGET_MS = 200.0


def pages(store: SqlStore, account: str) -> dict[str, str]:
    with store.connect() as conn:
        post = conn.execute(
            select(content_metadata.c.id)
            .where(content_metadata.c.account == account, content_metadata.c.status == POSTED)
            .order_by(content_metadata.c.id.desc())
            .limit(1)
        ).scalar()
    q = f"account={account}"
    return {
        "overview": f"/?{q}",
        "posts": f"/posts?{q}",
        "posts sorted by follows": f"/posts?{q}&sort=attributed&order=desc",
        "post": f"/posts/{post}?{q}",
        "learning": f"/learning?{q}",
        "jobs": f"/jobs?{q}",
        "replies": f"/replies?{q}",
    }


def time_pages(settings: Settings, store: SqlStore, account: str, repeat: int) -> dict[str, dict[str, float]]:
    from starlette.testclient import TestClient

    from growthloop.web.app import create_app

    client = TestClient(create_app(settings, store, action_token=None))
    out: dict[str, dict[str, float]] = {}
    for name, path in pages(store, account).items():
        times = []
        for _ in range(repeat + 1):
            start = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}")
        out[name] = {"cold_ms": round(times[0], 1), "median_ms": round(statistics.median(times[1:]), 1)}
    return out


def run_bench(
    settings: Settings,
    accounts: int,
    copies_db: Path | None,
    repeat: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    say = progress or (lambda _line: None)
    store = open_store(settings)
    if settings.account not in account_names(store):
        raise UsageError(f"--account: no account {settings.account!r} in {store.safe_url()}")
    source = store.sqlite_path()
    path = copies_db or (source.with_name(f"{source.stem}-x{accounts}{source.suffix}") if source else None)
    if accounts and path is None:
        raise UsageError("--copies-db: needed when --db is not a SQLite file (or pass --accounts 0)")
    result: dict[str, Any] = {"repeat": repeat, "target_ms": TARGET_MS, "databases": []}
    say(f"timing {store.safe_url()}")
    result["databases"].append(
        {
            "database": store.safe_url(),
            "accounts": 1,
            "account": settings.account,
            "pages": time_pages(settings, store, settings.account, repeat),
        }
    )
    if accounts and path is not None:
        many = SqlStore(f"sqlite:///{path}")
        if not path.exists():
            say(f"building {path}: {accounts} copies of account {settings.account}")
            start = time.perf_counter()
            copy_account(store, many, settings.account, accounts, progress=say)
            say(f"built in {time.perf_counter() - start:.0f} s")
        shown = copy_name(accounts // 2)
        say(f"timing {many.safe_url()} (account {shown})")
        result["databases"].append(
            {
                "database": many.safe_url(),
                "accounts": accounts,
                "account": shown,
                "pages": time_pages(settings.model_copy(update={"account": shown}), many, shown, repeat),
            }
        )
    return result


def format_text(result: dict[str, Any]) -> str:
    dbs = result["databases"]
    lines = [f"server time per page in ms: median of {result['repeat']} requests (the first, cold, apart)", ""]
    header = f"{'page':<26}" + "".join(f"{'median':>10}{'cold':>10}" for _ in dbs)
    lines.append(f"{'':<26}" + "".join(f"{d['accounts']} account(s)".rjust(20) for d in dbs))
    lines.append(header)
    for name in dbs[0]["pages"]:
        lines.append(
            f"{name:<26}"
            + "".join(f"{d['pages'][name]['median_ms']:>10.1f}{d['pages'][name]['cold_ms']:>10.1f}" for d in dbs)
        )
    worst = max(p["median_ms"] for d in dbs for p in d["pages"].values())
    verdict = "within" if worst < result["target_ms"] else "OVER"
    lines += ["", f"slowest median {worst:.1f} ms: {verdict} the {result['target_ms']:.0f} ms target"]
    for d in dbs:
        lines.append(f"  {d['accounts']} account(s): {d['database']} (account {d['account']})")
    return "\n".join(lines)
