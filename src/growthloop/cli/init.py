"""`growthloop init`: create or migrate the database, register the account, and with --platform write a
settings file for that platform."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from growthloop.bootstrap import ensure_account
from growthloop.cli.common import AccountOption, ConfigOption, DbOption, console, database_url, user_errors
from growthloop.cli.session import session
from growthloop.config import DEFAULT_CONFIG_FILE
from growthloop.errors import UsageError


def init(
    ctx: typer.Context,
    platform: Annotated[
        str | None,
        typer.Option(
            help="Write a settings file for this platform (x, mastodon, bluesky); secrets stay in the environment"
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    account: AccountOption = None,
) -> None:
    """Create (or migrate) the database and register the account; with --platform, write growthloop.toml."""
    s = session(ctx)
    with user_errors():
        written = (
            None
            if platform is None
            else _write_settings_file(platform, config or Path(DEFAULT_CONFIG_FILE), account, db)
        )
        try:
            store = s.open_store(check=False)
            store.upgrade()
            ensure_account(store, s.settings, datetime.now(UTC))
        except BaseException:
            if written is not None:  # the settings it wrote cannot work here: leave nothing behind
                written.unlink(missing_ok=True)
            raise
        if platform is not None and written is not None:
            _say_settings_written(platform, written)
        console.print(
            f"initialised {store.safe_url()} at schema {store.head_revision()} for account {s.settings.account}"
        )


def _write_settings_file(platform: str, path: Path, account: str | None, db: str | None) -> Path:
    if platform not in SETTINGS_FILES:
        raise UsageError(f"unknown platform {platform!r}; init can write settings for: {', '.join(SETTINGS_FILES)}")
    if path.exists():
        raise UsageError(f"{path} exists; not overwritten (edit it, or pass --config with a new name)")
    template, _ = SETTINGS_FILES[platform]
    path.write_text(template.format(account=account or "default", db=database_url(db) or "sqlite:///growthloop.db"))
    return path


def _say_settings_written(platform: str, path: Path) -> None:
    _, secrets = SETTINGS_FILES[platform]
    console.print(
        f"wrote {path}: platform {platform} in dry-run mode (live = false). Before going live, put the "
        "credentials in the environment or a .env file (never in the settings file):\n  "
        + "\n  ".join(secrets)
        + "\nthen check them with: growthloop doctor"
    )


X_SECRETS = (
    "GROWTHLOOP_X_API_KEY, GROWTHLOOP_X_API_SECRET, GROWTHLOOP_X_ACCESS_TOKEN, GROWTHLOOP_X_ACCESS_TOKEN_SECRET "
    "(OAuth 1.0a user context, preferred: it does not expire)",
    "or GROWTHLOOP_X_OAUTH2_USER_TOKEN (an OAuth 2.0 user token; expires after 2 hours)",
)

X_SETTINGS = """# growthloop settings for an X account. Secrets are never written here: see the README.
account = "{account}"
database_url = "{db}"
platform = "x"
live = false            # a dry run: every stage runs, publishing is logged instead of sent
posts_per_hour = 2
replies_per_hour = 4

[x]
# base_url = "https://api.x.com"
# user_id = ""          # looked up with users/me when unset
max_wait = "1m"         # the longest rate-limit wait inside a job; longer waits end the run and retry later
"""


BLUESKY_SECRETS = (
    "GROWTHLOOP_BLUESKY_HANDLE (the account's handle, e.g. name.bsky.social)",
    "GROWTHLOOP_BLUESKY_APP_PASSWORD (an app password from the account's settings, never the main password)",
)

BLUESKY_SETTINGS = """# growthloop settings for a Bluesky account. Secrets are never written here: see the README.
account = "{account}"
database_url = "{db}"
platform = "bluesky"
live = false            # a dry run: every stage runs, publishing is logged instead of sent
posts_per_hour = 2
replies_per_hour = 4

[bluesky]
# base_url = "https://bsky.social"   # the account's PDS
"""

MASTODON_SECRETS = (
    "GROWTHLOOP_MASTODON_ACCESS_TOKEN (made on the instance under Preferences > Development, scopes read and write)",
)

MASTODON_SETTINGS = """# growthloop settings for a Mastodon account. Secrets are never written here: see the README.
account = "{account}"
database_url = "{db}"
platform = "mastodon"
live = false            # a dry run: every stage runs, publishing is logged instead of sent
posts_per_hour = 2
replies_per_hour = 4

[mastodon]
# base_url = "https://mastodon.example"   # required: the account's instance
max_wait = "1m"         # the longest rate-limit wait inside a job; longer waits end the run and retry later
"""

SETTINGS_FILES = {
    "x": (X_SETTINGS, X_SECRETS),
    "mastodon": (MASTODON_SETTINGS, MASTODON_SECRETS),
    "bluesky": (BLUESKY_SETTINGS, BLUESKY_SECRETS),
}
