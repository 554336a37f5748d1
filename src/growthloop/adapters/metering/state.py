"""What the account's state says about credits at the platform: a note while the platform refuses calls
for want of credits (X's 402), cleared by the next call that goes through."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from growthloop.adapters.store.store import SqlStore

CREDITS_KEY = "spend_credits_exhausted"


@dataclass(frozen=True)
class CreditsNote:
    at: datetime
    message: str


def note_credits_exhausted(store: SqlStore, account: str, now: datetime, message: str) -> None:
    with store.begin() as conn:
        store.set_state(conn, account, CREDITS_KEY, {"at": now.isoformat(), "message": message})


def clear_credits_exhausted(store: SqlStore, account: str) -> None:
    with store.connect() as conn:
        present = store.get_state(conn, account, CREDITS_KEY) is not None
    if present:
        from sqlalchemy import delete

        from growthloop.adapters.store.tables import app_state

        with store.begin() as conn:
            conn.execute(delete(app_state).where(app_state.c.account == account, app_state.c.key == CREDITS_KEY))


def credits_note(store: SqlStore, account: str) -> CreditsNote | None:
    with store.connect() as conn:
        raw = store.get_state(conn, account, CREDITS_KEY)
    if raw is None:
        return None
    data = raw if isinstance(raw, dict) else json.loads(raw)
    return CreditsNote(datetime.fromisoformat(data["at"]), str(data["message"]))
